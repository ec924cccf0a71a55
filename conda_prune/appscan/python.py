"""Python imports (and the programs Python code runs) in ``.py`` files (notebooks: :mod:`.notebook`).

This module holds both readers of Python source and the tables they share, so that what one
finds the other is checked against (tests run both on the same files): that is why it is
longer than the other modules.

What counts, and how:

* ``import a.b`` and ``from a import b`` anywhere, function-local ones included; relative
  imports are the application's own and left out;
* under ``if TYPE_CHECKING:``: recorded, but not a use at run time;
* in the body of ``try: ... except ImportError`` (or ``with suppress(ImportError)``): an
  *optional* use, which still counts;
* ``importlib.import_module("x")``, ``__import__("x")``, ``pytest.importorskip("x")``,
  ``find_spec("x")`` and ``pytest_plugins = [...]``; with a computed name, a *dynamic* import the
  report warns about;
* commands given to ``subprocess``, ``os.system``, ``os.exec*``, ``asyncio`` subprocesses, nox and
  invoke (``session.run("pytest")``), programs looked up with ``shutil.which``, and libraries
  loaded with ``ctypes``;
* strings where code uses them as a module name (``"rest_framework"`` in ``INSTALLED_APPS``,
  ``engine="openpyxl"``, ``"postgresql+psycopg2://"``; see :mod:`.names`): a package loaded by
  name is still used.

Two readers find the same things. The **syntax-tree reader** (``ast``) is exact, but building
Python's syntax tree costs about 2 µs per source line, several times more than finding the
imports. So every file first goes to the **line reader**, which finds import statements with one
regular expression, skips triple-quoted strings, takes ``TYPE_CHECKING`` blocks and ``try``
bodies from the indentation, and parses only the few call sites that may run a program or import
by name (looked for only in files importing ``subprocess``, ``os``, ``importlib``...). It can read
more than the tree (an import in a comment, which keeps a package), never less. Where it cannot
be sure what is a string (a triple quote after a ``#`` or inside another string) or a call site
does not parse on its own, the file goes to the syntax tree; a file that does not parse at all
(Python 2, a template) is read by the line reader without that certainty, and reported.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Iterator

from .names import named_strings  # noqa: F401 - where the scanners have always found it
from .shell import argv_uses, shell_uses
from .syntax import problem_of
from .types import DYNAMIC, EXECUTABLE, LIBRARY, MODULE, TYPING, ScanProblem, Use

_KEYWORD = re.compile(r"(?:from|import)[ \t]")  # plain, so the regex engine scans fast
_FROM = re.compile(r"from[ \t]+(\.*[\w.]*)[ \t]+(c?import)\b")
_SIMPLE_STRINGS = re.compile(r"[rRbBuUfF]{0,2}(?:\"[^\"\\\n]*\"|'[^'\\\n]*')")
_TRIPLE = re.compile(r"\"\"\"|'''")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_OPTIONAL_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_OPTIONAL_MARKERS = ("ImportError", "ModuleNotFoundError", "Exception", "except:", "except :")

_RUNNERS = frozenset({
    "run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput", "run_always",
    "create_subprocess_exec", "spawn", "run_command",
})
_SHELL_RUNNERS = frozenset({"system", "popen", "create_subprocess_shell", "getoutput", "getstatusoutput"})
_OPTIONAL_IMPORTERS = frozenset({
    "find_spec", "find_loader", "importorskip", "import_optional_dependency", "optional_import",
    "try_import", "lazy_import",
})
_LIBRARY_LOADERS = frozenset({"CDLL", "WinDLL", "OleDLL", "PyDLL", "LoadLibrary", "find_library", "load_library"})
#: call names looked for in a file that imports the module (plain string search: a regular
#: expression over every file would cost more than finding the imports)
_CALLS_BY_MODULE: dict[str, tuple[str, ...]] = {
    "subprocess": ("run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"),
    "os": ("system", "popen", "exec", "spawn", "posix_spawn"),
    "asyncio": ("create_subprocess_exec", "create_subprocess_shell"),
    "importlib": ("import_module", "find_spec", "find_loader"),
    "pytest": ("importorskip",),
    "pkgutil": ("find_loader",),
    "shutil": ("which",),
    "ctypes": ("CDLL", "WinDLL", "OleDLL", "PyDLL", "LoadLibrary", "find_library"),
    "numpy": ("load_library",),
    "pandas": ("import_optional_dependency", *(n for n in ("read_", "to_", "ExcelFile", "ExcelWriter", "HDFStore"))),
    "xarray": ("open_dataset", "open_mfdataset", "open_dataarray", "to_netcdf", "load_dataset"),
    **{m: ("run", "run_always", "spawn", "run_command", "call") for m in (
        "nox", "invoke", "fabric", "sh", "plumbum", "pexpect", "sarge", "delegator")},
}
_EXCEL_READERS = ("openpyxl", "xlrd", "odf", "pyxlsb", "python_calamine")
_NETCDF = ("netCDF4", "h5netcdf", "scipy")
#: calls that load an optional package when no ``engine=`` names one: the engines the library
#: tries, or picks by file type (pandas/io/excel/_base.py, pandas/io/parquet.py get_engine,
#: xarray's backends). Each installed one counts as used, since which one a call takes depends
#: on the file; one that is not installed is no missing module. An ``engine="x"`` names x alone
#: (:mod:`.names`).
DEFAULT_ENGINES: dict[str, tuple[str, ...]] = {
    "read_excel": _EXCEL_READERS, "ExcelFile": _EXCEL_READERS,
    "to_excel": ("openpyxl", "xlsxwriter", "odf"), "ExcelWriter": ("openpyxl", "xlsxwriter", "odf"),
    "read_parquet": ("pyarrow", "fastparquet"), "to_parquet": ("pyarrow", "fastparquet"),
    "read_feather": ("pyarrow",), "to_feather": ("pyarrow",), "read_orc": ("pyarrow",), "to_orc": ("pyarrow",),
    "read_hdf": ("tables",), "to_hdf": ("tables",), "HDFStore": ("tables",),
    "read_xml": ("lxml",), "to_xml": ("lxml",), "read_html": ("lxml", "bs4", "html5lib"),
    "to_markdown": ("tabulate",), "read_spss": ("pyreadstat",),
    "read_sql": ("sqlalchemy",), "read_sql_query": ("sqlalchemy",), "read_sql_table": ("sqlalchemy",),
    "to_sql": ("sqlalchemy",),
    "open_dataset": _NETCDF, "open_mfdataset": _NETCDF, "open_dataarray": _NETCDF, "load_dataset": _NETCDF,
    "to_netcdf": _NETCDF,
}
DEFAULT_ENGINE = "default engine"  # ``Use.how`` of such a use: "openpyxl (read_excel, default engine)"
#: in installed code, the calls that import a module by name (find_spec only asks whether one is there)
_INSTALLED_CALLS = ("__import__", "import_module", "import_optional_dependency", "optional_import", "try_import",
                    "lazy_import")
#: looked for in every file
_ALWAYS_CALLS = ("__import__", "import_module", "optional_import", "try_import", "lazy_import")
_TYPE_CHECKING_IF = re.compile(r"^([ \t]*)if[ \t]+(?:[A-Za-z_]\w*\.)?TYPE_CHECKING[ \t]*:(.*)$", re.M)
_PYTEST_PLUGINS = re.compile(r"^pytest_plugins[ \t]*(?::[^=\n]*)?=[ \t]*", re.M)


# -- the syntax-tree reader ------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` of a name or attribute chain; iterative, so a chain thousands long is no
    RecursionError."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _is_type_checking(test: ast.AST) -> bool:
    return _dotted(test).split(".")[-1] == "TYPE_CHECKING" if _dotted(test) else False


def _catches_import_errors(handlers: list[ast.ExceptHandler]) -> bool:
    for handler in handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(_dotted(t).split(".")[-1] in _OPTIONAL_ERRORS for t in types):
            return True
    return False


def _suppresses_import_errors(node: ast.With | ast.AsyncWith) -> bool:
    for item in node.items:
        call = item.context_expr
        if isinstance(call, ast.Call) and _dotted(call.func).split(".")[-1] == "suppress":
            if any(_dotted(a).split(".")[-1] in _OPTIONAL_ERRORS for a in call.args):
                return True
    return False


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _argv(node: ast.AST) -> list[str] | None:
    """A command given as a list/tuple whose program is a literal (or ``sys.executable``)."""
    if not isinstance(node, (ast.List, ast.Tuple)) or not node.elts:
        return None
    words: list[str] = []
    for i, element in enumerate(node.elts):
        text = _string(element)
        if text is None and i == 0 and _dotted(element) == "sys.executable":
            text = "python"
        if text is None:
            if i == 0:
                return None
            text = "{}"  # an argument computed at run time
        words.append(text)
    return words


class _TreeReader:
    """``calls``: the call names that count (as the line reader decides them, see
    :func:`call_names`); None: every call (a fragment the line reader already chose)."""

    def __init__(self, path: str, first_line: int = 1, calls: frozenset[str] | None = None, *,
                 installed: bool = False) -> None:
        self.path = path
        self.offset = first_line - 1
        self.uses: list[Use] = []
        self.calls = calls
        self.installed = installed  # installed code: relative imports kept, function bodies marked
        self.deferred = False  # the node being visited is in a function body
        #: only statements need a visit (no call that counts is in the file): expressions are skipped
        self.statements_only = False

    def use(self, kind: str, name: str, node: ast.AST, how: str, optional: bool = False,
            subnames: tuple[str, ...] = ()) -> None:
        self.uses.append(Use(kind, name, self.path, getattr(node, "lineno", 0) + self.offset, how, optional, subnames,
                             self.deferred))

    def read(self, tree: ast.AST) -> list[Use]:
        # an explicit stack: deeply nested code must not hit the recursion limit
        stack: list[tuple[ast.AST, bool, bool, bool]] = [(tree, False, False, False)]
        while stack:
            node, optional, typing_only, deferred = stack.pop()
            children: list[tuple[ast.AST, bool, bool, bool]] = []
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                children += [(n, optional, True, deferred) for n in node.body]
                children += [(n, optional, typing_only, deferred) for n in node.orelse]
            elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                body_optional = optional or _catches_import_errors(node.handlers)
                children += [(n, body_optional, typing_only, deferred) for n in node.body]
                for part in (node.handlers, node.orelse, node.finalbody):
                    children += [(n, optional, typing_only, deferred) for n in part]
            elif isinstance(node, (ast.With, ast.AsyncWith)) and _suppresses_import_errors(node):
                children += [(n, optional, typing_only, deferred) for n in node.items]
                children += [(n, True, typing_only, deferred) for n in node.body]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                # a try around a definition does not guard what runs when it is called
                children += [(n, False, typing_only, True) for n in ast.iter_child_nodes(node)]
            else:
                self.deferred = deferred
                self._visit(node, optional, typing_only)
                if self.statements_only:
                    children += [(n, optional, typing_only, deferred) for n in ast.iter_child_nodes(node)
                                 if isinstance(n, (ast.stmt, ast.excepthandler))]
                else:
                    children += [(n, optional, typing_only, deferred) for n in ast.iter_child_nodes(node)]
            stack.extend(reversed(children))
        return self.uses

    def _visit(self, node: ast.AST, optional: bool, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                self.use(TYPING if typing_only else MODULE, alias.name, node, "import", optional)
        elif isinstance(node, ast.ImportFrom):
            if node.level and self.installed:  # relative, in installed code: ".compat", ".."
                subnames = tuple(a.name for a in node.names if a.name != "*")
                self.use(TYPING if typing_only else MODULE, "." * node.level + (node.module or ""), node, "from",
                         optional, subnames)
                return
            if node.level or not node.module:
                return  # relative: the application's own modules
            subnames = tuple(a.name for a in node.names if a.name != "*")
            self.use(TYPING if typing_only else MODULE, node.module, node, "from", optional, subnames)
        elif isinstance(node, ast.Call):
            self._call(node, optional or typing_only)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets) and node.value is not None:
                values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
                for value in values:
                    text = _string(value)
                    if text and _DOTTED.match(text):
                        self.use(MODULE, text, node, "pytest_plugins")

    def _call(self, node: ast.Call, optional: bool) -> None:
        func = _dotted(node.func)
        last = func.split(".")[-1] if func else ""
        if self.calls is not None and not last.startswith(tuple(self.calls)):
            return  # the line reader would not look at this call either
        first = node.args[0] if node.args else None
        if last in ("import_module", "__import__") or last in _OPTIONAL_IMPORTERS:
            name = _string(first)
            if name is None:
                for keyword in node.keywords:
                    if keyword.arg in ("name", "module", "modname"):
                        name = _string(keyword.value)
            is_optional = optional or last in _OPTIONAL_IMPORTERS
            if name is not None:
                if name.startswith(".") and self.installed and _DOTTED.match(name.lstrip(".")):
                    self.use(MODULE, name, node, last, is_optional)  # relative to the module's own package
                    return
                if name.startswith("."):
                    name = _absolute_import_name(name, node)
                    if name is None:
                        return  # relative to the application's own package
                if _DOTTED.match(name):
                    self.use(MODULE, name, node, last, is_optional)
            elif first is not None and last in ("import_module", "__import__"):
                self.use(DYNAMIC, ast.unparse(first)[:80], node, last, is_optional)
            return
        if last in DEFAULT_ENGINES and not self.installed:
            if not any(k.arg == "engine" for k in node.keywords):
                for module in DEFAULT_ENGINES[last]:
                    self.use(MODULE, module, node, f"{last}, {DEFAULT_ENGINE}", True)
            return
        if last == "which" and _string(first):
            self.use(EXECUTABLE, _string(first) or "", node, "shutil.which", True)
            return
        if last in _LIBRARY_LOADERS and _string(first):
            self.use(LIBRARY, _string(first) or "", node, last, optional)
            return
        if last.startswith(("spawnl", "spawnv", "execl", "execv")) and node.args:
            target = node.args[1] if last.startswith("spawn") and len(node.args) > 1 else first
            text = _string(target)
            if text:
                self.uses += argv_uses([text], self.path, node.lineno + self.offset, "os." + last)
            return
        if last in _RUNNERS or last in _SHELL_RUNNERS:
            line = node.lineno + self.offset
            argv = _argv(first) if first is not None else None
            how = "subprocess" if "subprocess" in func or last in ("Popen", "check_output", "check_call") else func or last
            if argv is not None:
                self.uses += argv_uses(argv, self.path, line, how, scan_python_snippet)
                return
            text = _string(first)
            if text is None:
                return
            strings = [_string(a) for a in node.args]
            shell = last in _SHELL_RUNNERS or any(
                k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords
            )
            if shell or (" " in text and len(node.args) == 1):
                self.uses += shell_uses(text, self.path, how, first_line=line, python=scan_python_snippet)
            else:  # run("pytest", "tests") (nox, invoke): the words are the arguments
                self.uses += argv_uses([s if s is not None else "{}" for s in strings], self.path, line, how,
                                       scan_python_snippet)


def _absolute_import_name(name: str, node: ast.Call) -> str | None:
    """``import_module(".x", package="thirdparty")`` -> ``thirdparty.x``, as importlib resolves
    it; None when the package is not a literal (``__package__``, ``__name__``: the code's own)."""
    package = None
    if len(node.args) > 1:
        package = _string(node.args[1])
    for keyword in node.keywords:
        if keyword.arg == "package":
            package = _string(keyword.value)
    if not package or package.startswith(".") or not _DOTTED.match(package):
        return None
    level = len(name) - len(name.lstrip("."))
    base = package.split(".")
    if level - 1 >= len(base):
        return None  # beyond the top-level package: importlib raises
    base = base[: len(base) - (level - 1)]
    rest = name[level:]
    return ".".join([*base, rest]) if rest else ".".join(base)


def read_tree(tree: ast.AST, path: str, first_line: int = 1) -> list[Use]:
    """Uses in a parsed module. Call sites count by the same rule as in the line reader: the
    names of :func:`call_names` for the modules the file imports, so both readers agree."""
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".", 1)[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".", 1)[0])
    return _TreeReader(path, first_line, call_names(modules)).read(tree)


def call_names(modules: set[str], text: str | None = None) -> frozenset[str]:
    """The call names (prefixes: ``exec`` covers ``execvp``) worth reading in a file importing
    ``modules``: those of ``_CALLS_BY_MODULE`` for them, and ``_ALWAYS_CALLS`` (present in
    ``text``, when given)."""
    names = {n for n in _ALWAYS_CALLS if text is None or n in text}
    for module in modules & _CALLS_BY_MODULE.keys():
        names.update(_CALLS_BY_MODULE[module])
    return frozenset(names)


# -- the line reader ---------------------------------------------------------------------------


class _Uncertain(Exception):
    """The line reader cannot be sure of this file: the syntax tree must read it."""


def _triple_quoted_spans(text: str) -> list[tuple[int, int]]:
    """Where the triple-quoted strings are. Raises :class:`_Uncertain` when a triple quote may
    sit in a comment or another string, or is escaped, or never closes."""
    spans: list[tuple[int, int]] = []
    opened_at = -1
    quote = ""
    for match in _TRIPLE.finditer(text):
        pos = match.start()
        if quote:
            if match.group() != quote:
                continue
            if text[pos - 1] == "\\":
                raise _Uncertain
            spans.append((opened_at, match.end()))
            quote = ""
            continue
        line_start = text.rfind("\n", 0, pos) + 1
        before = text[line_start:pos]
        if not before or before.isspace():  # the usual docstring
            quote = match.group()
            opened_at = pos
            continue
        if before.lstrip().startswith("#"):
            continue  # a comment line ("#     \"\"\"doc" in commented-out code)
        if "'" in before or '"' in before:  # "ID", True, """doc""": simple strings are fine
            before = _SIMPLE_STRINGS.sub("", before)
        if "#" in before or "'" in before or '"' in before or before.endswith("\\"):
            raise _Uncertain
        quote = match.group()
        opened_at = pos
    if quote:
        raise _Uncertain
    return spans


def _statement_end(text: str, pos: int) -> str:
    """The rest of an import statement from ``pos``: to the end of its logical line, through
    parentheses and backslash continuations, stopping at ``;`` and ``#``."""
    nl = text.find("\n", pos)
    line = text[pos:] if nl < 0 else text[pos:nl]
    if not any(c in line for c in "()\\"):  # the usual one-line statement: no character loop needed
        return line.split("#", 1)[0].split(";", 1)[0].rstrip("\r")
    out = []
    depth = 0
    i = pos
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth <= 0:
                break
        elif ch == "\\" and i + 1 < n and text[i + 1] in "\r\n":
            i += 3 if text[i + 1 : i + 3] == "\r\n" else 2
            continue
        elif ch == "\n" and depth <= 0:
            break
        elif ch == "#":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif ch == ";" and depth <= 0:
            break
        out.append(ch)
        i += 1
        if i - pos > 20000:
            break
    return "".join(out)


def _names(clause: str) -> list[str]:
    names = []
    for part in clause.replace("(", " ").replace(")", " ").split(","):
        name = part.split(" as ")[0].strip().split()
        if name and _DOTTED.match(name[0]):
            names.append(name[0])
    return names


def _code_lines_after(text: str, pos: int, in_string: Callable[[int], bool]) -> Iterator[tuple[int, int, str]]:
    """(start, end, line) of each line after ``pos`` that holds code: not blank, not only a
    comment, not inside a triple-quoted string."""
    n = len(text)
    while pos < n:
        nl = text.find("\n", pos + 1)
        start, end = pos + 1, (n if nl < 0 else nl)
        pos = end
        line = text[start:end]
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not in_string(start):
            yield start, end, line


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _headers_above(text: str, line_start: int, indent: int, in_string: Callable[[int], bool], limit: int,
                   skip_closers: bool = False) -> Iterator[tuple[int, str, int]]:
    """Walking up from the line at ``line_start`` (indented by ``indent``), each code line less
    indented than the last one found: the headers of the blocks around it, innermost first, as
    (end of the line, the line stripped, its indent). At most ``limit`` lines are looked at.
    ``skip_closers``: a line starting with a closing bracket (the end of a signature written over
    several lines, whose header is above) is passed over."""
    pos = line_start
    steps = 0
    while indent > 0 and pos > 0 and steps < limit:
        end = pos - 1
        start = text.rfind("\n", 0, end) + 1
        pos = start
        steps += 1
        line = text[start:end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or in_string(start):
            continue
        if skip_closers and stripped[0] in ")]}":
            continue
        own = _indent_of(line)
        if own >= indent:
            continue
        indent = own
        yield end, stripped, own


def _optional_context(text: str, line_start: int, indent: int, in_string: Callable[[int], bool]) -> bool:
    """Is the import at ``line_start`` (indented by ``indent``) in the body of a ``try`` that
    catches ImportError? Found by walking up the indentation; it only labels the use."""
    for end, stripped, own in _headers_above(text, line_start, indent, in_string, limit=400):
        if stripped.startswith("try") and re.match(r"try\s*:", stripped):
            return _try_catches(text, end, own, in_string)
        if stripped.startswith(("def ", "async def ", "class ")):
            return False  # a try around a definition does not guard what runs when it is called
    return False


def _try_catches(text: str, pos: int, indent: int, in_string: Callable[[int], bool]) -> bool:
    for n, (_, _, line) in enumerate(_code_lines_after(text, pos, in_string)):
        if n > 2000:
            break
        own = _indent_of(line)
        if own > indent:
            continue
        stripped = line.strip()
        if own < indent or not stripped.startswith("except"):
            return False
        clause = stripped[len("except"):].split(":", 1)[0]
        if not clause.strip().strip("*").strip() or set(re.findall(r"[A-Za-z_]\w*", clause)) & _OPTIONAL_ERRORS:
            return True
    return False


def _type_checking_blocks(text: str, in_string: Callable[[int], bool]) -> list[tuple[int, int]]:
    """Where the bodies of ``if TYPE_CHECKING:`` are. A body ends at the first code line
    indented no deeper than its ``if``; in valid Python it cannot end later, so an import after
    it is never taken for a type-checking one."""
    blocks = []
    for match in _TYPE_CHECKING_IF.finditer(text):
        if in_string(match.start()):
            continue
        if match.group(2).split("#", 1)[0].strip():  # if TYPE_CHECKING: import x
            blocks.append((match.start(2), match.end()))
            continue
        indent = len(match.group(1).expandtabs())
        end = len(text)
        for start, _, line in _code_lines_after(text, match.end(), in_string):
            if len(line[: _indent_of(line)].expandtabs()) <= indent:
                end = start
                break
        blocks.append((match.end(), end))
    return blocks


def _call_text(text: str, start: int, open_paren: int) -> str | None:
    """The source of a call from its name to its closing parenthesis, strings respected."""
    depth = 0
    i = open_paren
    n = min(len(text), open_paren + 20000)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else ch
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n" and len(quote) == 1:
                    return None
                j += 1
            i = j + len(quote)
            continue
        if ch == "#":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
        i += 1
    return None


def _call_sites(text: str, names: set[str]) -> list[int]:
    """Where calls to ``names`` start (the dotted name before them included), in order."""
    found = set()
    for name in names:
        pos = text.find(name)
        while pos >= 0:
            end = pos + len(name)
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1  # exec -> execvp, spawn -> spawnlp
            if end < len(text) and text[end] == "(" and not (pos and (text[pos - 1].isalnum() or text[pos - 1] == "_")):
                start = pos
                while start and (text[start - 1].isalnum() or text[start - 1] in "_."):
                    start -= 1
                found.add((start, end))
            pos = text.find(name, pos + 1)
    return sorted(found)


def _calls(text: str, path: str, first_line: int, modules: set[str], in_string: Callable[[int], bool],
           installed: bool = False) -> list[Use]:
    """Uses in the call sites that run programs or import by name (see ``_CALLS_BY_MODULE``);
    in installed code, only the calls that import by name, each marked when in a function."""
    names = {n for n in _INSTALLED_CALLS if n in text} if installed else set(call_names(modules, text))
    if not names:
        return []
    uses: list[Use] = []
    line, counted = first_line, 0
    for start, paren in _call_sites(text, names):
        if in_string(start):
            continue
        line += text.count("\n", counted, start)
        counted = start
        source = _call_text(text, start, paren)
        if source is None:
            raise _Uncertain
        try:
            node = ast.parse(source, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise _Uncertain from None
        if isinstance(node, ast.Call):
            reader = _TreeReader(path, line, installed=installed)
            if installed:
                reader.deferred = _deferred_at(text, start, in_string)
            reader.use = _at_line(reader, line)  # type: ignore[method-assign]
            reader._call(node, optional=False)
            uses += reader.uses
    return uses


def _at_line(reader: _TreeReader, line: int) -> Callable[..., None]:
    def use(kind: str, name: str, node: ast.AST, how: str, optional: bool = False,
            subnames: tuple[str, ...] = ()) -> None:
        reader.uses.append(Use(kind, name, reader.path, line, how, optional, subnames, reader.deferred))
    return use


def _deferred_at(text: str, pos: int, in_string: Callable[[int], bool]) -> bool:
    """Is the statement at ``pos`` in the body of a function (it runs when called, not on
    import)? Found by walking up the indentation to the first ``def`` above it. Where the walk
    is unsure (a line less indented than the statement inside brackets), the answer is no: a
    module-level import keeps its package, a wrong "in a function" could let it go."""
    line_start = text.rfind("\n", 0, pos) + 1
    indent = len(text[line_start:pos]) - len(text[line_start:pos].lstrip())
    return any(stripped.startswith(("def ", "async def "))
               for _, stripped, _ in _headers_above(text, line_start, indent, in_string, limit=5000, skip_closers=True))


def _pytest_plugins(text: str, path: str, first_line: int, in_string: Callable[[int], bool]) -> list[Use]:
    uses = []
    for match in _PYTEST_PLUGINS.finditer(text):
        if in_string(match.start()):
            continue
        value = _call_text(text, match.end(), match.end()) if text[match.end() : match.end() + 1] in "([" else None
        if value is None:
            value = text[match.end() :].split("\n", 1)[0]
        try:
            parsed = ast.literal_eval(value.strip())
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # ``= ----...1`` exhausts the parser
            raise _Uncertain from None
        names = [parsed] if isinstance(parsed, str) else list(parsed) if isinstance(parsed, (list, tuple)) else []
        line = first_line + text.count("\n", 0, match.start())
        uses += [Use(MODULE, n, path, line, "pytest_plugins") for n in names if isinstance(n, str) and _DOTTED.match(n)]
    return uses


def read_lines(
    text: str, path: str, first_line: int = 1, spans: list[tuple[int, int]] | None = None, *, strict: bool = False,
    installed: bool = False,
) -> list[Use]:
    """Uses found line by line (see the module docstring).

    ``strict``: raise :class:`_Uncertain` instead of guessing (the caller then uses the syntax
    tree). Without it, strings that cannot be told apart are read as code: more, never less.
    ``installed``: installed code (see :func:`installed_imports`)."""
    if spans is None:
        try:
            spans = _triple_quoted_spans(text)
        except _Uncertain:
            if strict:
                raise
            spans = []
    starts = [s for s, _ in spans]

    def in_string(pos: int) -> bool:
        if not starts:
            return False
        k = bisect.bisect_right(starts, pos) - 1
        return k >= 0 and spans[k][0] <= pos < spans[k][1]

    typing_blocks = _type_checking_blocks(text, in_string) if "TYPE_CHECKING" in text else []
    may_be_optional: bool | None = None  # does the file catch ImportError at all? asked once
    uses: list[Use] = []
    line = first_line
    counted = 0
    for match in _KEYWORD.finditer(text):
        pos = match.start()
        if pos and (text[pos - 1].isalnum() or text[pos - 1] in "_."):
            if not (text[pos - 1] == "c" and text.startswith("import", pos) and (pos < 2 or not (
                    text[pos - 2].isalnum() or text[pos - 2] in "_."))):
                continue  # "reimport", "x.from": not the keyword
            pos -= 1  # cimport
        line_start = text.rfind("\n", 0, pos) + 1
        before = text[line_start:pos]
        head = before.rstrip()
        if head and head[-1] not in ";:":
            continue  # inside a statement: "yield from x", "from a import b" seen at "import"
        if starts and in_string(pos):
            continue
        line += text.count("\n", counted, pos)
        counted = pos
        indent = _indent_of(before)
        if (indent or head) and may_be_optional is None:
            may_be_optional = any(word in text for word in _OPTIONAL_MARKERS)
        if not may_be_optional:
            optional = False
        elif head:  # after ";" or ":" on the same line: "try: import x"
            line_end = text.find("\n", pos)
            optional = bool(re.match(r"try\s*:", head[indent:] if len(head) > indent else head.strip())) and _try_catches(
                text, len(text) if line_end < 0 else line_end, indent, in_string)
            optional = optional or (indent > 0 and _optional_context(text, line_start, indent, in_string))
        else:
            optional = indent > 0 and _optional_context(text, line_start, indent, in_string)
        kind = TYPING if typing_blocks and any(a <= pos < b for a, b in typing_blocks) else MODULE
        if text.startswith("from", pos):
            found = _FROM.match(text, pos)
            if not found:
                continue
            module = found.group(1)
            relative = installed and module.startswith(".") and (not module.lstrip(".")
                                                                 or _DOTTED.match(module.lstrip(".")))
            if not relative and (module.startswith(".") or not _DOTTED.match(module)):
                continue
            clause = _statement_end(text, found.end())
            subnames = tuple(n for n in _names(clause) if n != "*")
            deferred = installed and bool(indent) and _deferred_at(text, pos, in_string)
            uses.append(Use(kind, module, path, line, "from" if found.group(2) == "import" else "cimport", optional,
                            subnames, deferred))
        else:
            how = "cimport" if text[pos] == "c" else "import"
            deferred = installed and bool(indent) and _deferred_at(text, pos, in_string)
            for name in _names(_statement_end(text, match.end())):
                uses.append(Use(kind, name, path, line, how, optional, (), deferred))
    modules = {u.name.split(".", 1)[0] for u in uses}
    try:
        uses += _calls(text, path, first_line, modules, in_string, installed)
        if "pytest_plugins" in text and not installed:
            uses += _pytest_plugins(text, path, first_line, in_string)
    except _Uncertain:
        if strict:
            raise
    return uses


def locate(name: str, path: str) -> int:
    """The line where ``name`` is first written in the file at ``path`` (0 if not found, or
    when the file is no longer a regular file of at most the scan's read limit)."""
    from ..safeio import read_bytes
    from .walk import MAX_BYTES

    try:
        text = read_bytes(path, limit=MAX_BYTES).decode("utf-8", "replace")
    except OSError:
        return 0
    for needle in (f'"{name}"', f"'{name}'", name):
        pos = text.find(needle)
        if pos >= 0:
            return text.count("\n", 0, pos) + 1
    return 0


# -- entry points ------------------------------------------------------------------------------


def scan_python(text: str, path: str, first_line: int = 1) -> tuple[list[Use], list[ScanProblem]]:
    """Uses in Python source. Never raises: a file that does not parse is read line by line and
    reported. The fast line reader alone decides most files without a parse: whether those
    parse is :mod:`.syntax`'s question, asked beside the rest of the run."""
    try:
        return read_lines(text, path, first_line, strict=True), []
    except _Uncertain:
        pass
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return read_lines(text, path, first_line), [problem_of(exc, path, first_line)]
    return read_tree(tree, path, first_line), []


def installed_imports(text: str, path: str) -> list[Use]:
    """The imports of an installed module, for the import closure (:mod:`conda_prune.env_prune.closure`).

    The same readers as for the application, with two differences: relative imports are kept
    (with their dots: ``from .compat import x`` is ``.compat``), and each import inside a
    function body is marked ``deferred`` (it runs when the function is called, not when the
    module is imported). Call sites count only where they import a literal name
    (``import_module("x")``, ``__import__("x")``, ``import_optional_dependency("x")``). Only
    :data:`~.types.MODULE` uses are returned. Never raises."""
    try:
        uses = read_lines(text, path, strict=True, installed=True)
    except _Uncertain:
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            uses = read_lines(text, path, installed=True)
        else:
            reader = _TreeReader(path, 1, frozenset(_INSTALLED_CALLS), installed=True)
            # the syntax tree is walked in Python: where no call can count, its expressions need no visit
            reader.statements_only = not any(name in text for name in _INSTALLED_CALLS)
            uses = reader.read(tree)
    return [u for u in uses if u.kind == MODULE]


def scan_python_snippet(code: str, path: str, line: int) -> list[Use]:
    """``python -c CODE``, a heredoc, a notebook cell: uses, whatever the code's state."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return read_lines(code, path, line)
    return read_tree(tree, path, line)


def scan_cython(text: str, path: str) -> tuple[list[Use], list[ScanProblem]]:
    """``.pyx``/``.pxd``: ``import`` and ``cimport`` lines (the syntax tree cannot read Cython)."""
    return read_lines(text, path), []


# -- notebooks ---------------------------------------------------------------------------------



