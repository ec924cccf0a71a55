"""Jupyter notebooks: their code cells read as Python (IPython magics and shell escapes
included), and the kernel they run on."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator

from .names import backend_modules
from .python import named_strings, read_lines, read_tree, scan_python_snippet
from .shell import shell_uses
from .types import EXECUTABLE, KERNEL, MODULE, ScanProblem, Use

_CELL_MAGIC_SHELL = re.compile(r"^%%(?:bash|sh|script\s+(?:ba)?sh|system)\b")


_CELL_MAGIC_R = re.compile(r"^%%R\b")
#: cell magics whose body is Python run in the kernel (or by a Python program: %%script python3)
_PYTHON_CELL_MAGIC = re.compile(r"^\s*%%(?:time|timeit|capture|prun|python[\d.]*|script\s+python[\d.]*)(?:\s|$)")


#: extensions that ship inside IPython: ``%load_ext autoreload`` loads IPython.extensions.autoreload
_IPYTHON_EXTENSIONS = frozenset({"autoreload", "storemagic"})
#: line magics that extensions define, and the module that defines them
_EXTENSION_MAGICS = {"lprun": "line_profiler", "mprun": "memory_profiler", "memit": "memory_profiler",
                     "sql": "sql", "cython": "Cython", "tensorboard": "tensorboard"}
#: line magics whose argument is a Python statement, after their own options
_STATEMENT_MAGICS = re.compile(r"^%(?:time|timeit|prun|debug)\b((?:\s+-[nrpsTDlq]\s*\S+|\s+-[tcqoi])*)\s+(.*)$")
_QT_ANY = ("PyQt6", "PySide6", "PyQt5", "PySide2")


def line_magic_uses(content: str, where: str, line: int) -> list[Use]:
    """What an IPython line magic loads: ``%load_ext line_profiler`` (the module), ``%matplotlib
    qt`` (matplotlib and every binding the backend may pick, each optional: one is enough),
    ``%run -m x``, ``%sql``, and the statement of ``%time``/``%timeit``/``%prun``."""
    words = content[1:].split()
    if not words:
        return []
    magic, args = words[0], words[1:]
    uses: list[Use] = []
    if magic in ("load_ext", "reload_ext", "unload_ext"):
        for name in args[:1]:
            if re.match(r"^[A-Za-z_][\w.]*$", name):
                module = f"IPython.extensions.{name}" if name in _IPYTHON_EXTENSIONS else name
                uses.append(Use(MODULE, module, where, line, f"%{magic}"))
    elif magic in ("matplotlib", "pylab"):
        uses.append(Use(MODULE, "matplotlib", where, line, f"%{magic}"))
        if magic == "pylab":
            uses.append(Use(MODULE, "numpy", where, line, "%pylab"))
        options = [a for a in args if not a.startswith("-")]
        backend = options[0] if options else "inline"
        for module in backend_modules(backend):
            uses.append(Use(MODULE, module, where, line, f"%{magic} {backend}", optional=True))
    elif magic == "run":
        for j, word in enumerate(args[:-1]):
            if word == "-m" and re.match(r"^[A-Za-z_][\w.]*$", args[j + 1]):
                uses.append(Use(MODULE, args[j + 1], where, line, "%run -m"))
                break
    elif magic in _EXTENSION_MAGICS:
        uses.append(Use(MODULE, _EXTENSION_MAGICS[magic], where, line, f"%{magic}"))
    statement = _STATEMENT_MAGICS.match(content)
    if statement:
        uses += scan_python_snippet(statement.group(2), where, line)
    return uses


def cell_magic_uses(cell: str, where: str) -> tuple[list[Use], bool]:
    """What a cell magic loads, and whether its body is still Python: ``%%cython`` needs Cython
    (its body is Cython, read for its imports), ``%%sql`` the ``sql`` module of ipython-sql or
    jupysql, ``%%script X`` runs the program X."""
    first, _, body = cell.partition("\n")
    words = first[2:].split()
    magic = words[0] if words else ""
    if magic == "cython" or magic.startswith("cython_"):
        return [Use(MODULE, "Cython", where, 1, "%%cython"), *read_lines(body, where, 2)], False
    if magic == "sql":
        return [Use(MODULE, "sql", where, 1, "%%sql")], False
    if magic == "script" and len(words) > 1 and not words[1].startswith(("sh", "bash")):
        program = words[1].split("/")[-1]
        return [Use(EXECUTABLE, program, where, 1, "%%script")], program.startswith("python")
    if magic.startswith("python"):
        return [Use(EXECUTABLE, magic, where, 1, f"%%{magic}")], True
    if magic in ("perl", "ruby", "pypy", "node"):
        return [Use(EXECUTABLE, magic, where, 1, f"%%{magic}")], False
    if magic in ("time", "timeit", "prun", "capture") and len(words) > 1 and magic != "capture":
        setup = first.split(None, 1)[1]
        setup = re.sub(r"^(?:-[nrp]\s*\S+\s+|-[tcqo]\s+)*", "", setup)
        return scan_python_snippet(setup, where, 1), True
    return [], True


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _code_cells(data: dict) -> Iterator[tuple[int, str]]:
    if isinstance(data.get("cells"), list):
        cells = data["cells"]
    elif isinstance(data.get("worksheets"), list):  # nbformat 3
        cells = [c for w in data["worksheets"] if isinstance(w, dict) for c in w.get("cells", ())]
    else:
        cells = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = _cell_source(cell) if "source" in cell else str(cell.get("input", ""))
            yield number, source


def _json_strings(text: str) -> str:
    """The string values of broken JSON, one after the other: a notebook's code lines, each on
    its own line, whatever broke the document around them."""
    parts = []
    for literal in re.findall(r'"(?:[^"\\\n]|\\.)*"', text):
        try:
            value = json.loads(literal)
        except ValueError:
            continue
        parts.append(value if value.endswith("\n") else value + "\n")
    return "".join(parts)


def notebook_language(data: dict) -> str:
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    for key in ("kernelspec", "language_info"):
        info = meta.get(key) if isinstance(meta.get(key), dict) else {}
        language = info.get("language") or (info.get("name") if key == "language_info" else None)
        if isinstance(language, str) and language:
            return language.lower()
    return "python"


def scan_notebook(text: str, path: str) -> tuple[list[Use], list[ScanProblem], set[str]]:
    """Code cells (Python, or R for R kernels), ``!command`` lines and ``%%bash`` cells, and the
    kernel the notebook runs on. A cell that does not parse is read line by line."""
    from .rlang import r_uses

    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        said = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        problem = ScanProblem(path, f"is not valid notebook JSON ({said}); its imports were read line by line",
                              line=line, parser_message=said)
        code = _json_strings(text)
        return read_lines(code, path), [problem], named_strings(code)
    if not isinstance(data, dict):
        return [], [ScanProblem(path, "is not a notebook (its JSON is not an object); skipped")], set()
    uses: list[Use] = []
    names: set[str] = set()
    problems: list[ScanProblem] = []
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    kernelspec = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    language = notebook_language(data)
    if isinstance(kernelspec.get("name"), str) and kernelspec["name"]:
        uses.append(Use(KERNEL, kernelspec["name"], path, 0, "kernelspec"))
    else:  # Jupyter's default kernel for the notebook's language
        uses.append(Use(KERNEL, "ir" if language == "r" else "python3", path, 0, "default kernel"))
    for number, source in _code_cells(data):
        where = f"{path}[cell {number}]"
        stripped = source.lstrip()
        if _CELL_MAGIC_SHELL.match(stripped):
            uses += shell_uses(stripped.split("\n", 1)[1] if "\n" in stripped else "", where, "notebook %%bash",
                               first_line=2, python=scan_python_snippet)
            continue
        if language == "r" or _CELL_MAGIC_R.match(stripped):
            uses += r_uses(source, where)
            continue
        if stripped.startswith("%%"):
            found, as_python = cell_magic_uses(stripped, where)
            uses += found
            first, _, body = source.partition("\n")
            if not as_python or not _PYTHON_CELL_MAGIC.match(first):
                continue  # another language's cell magic, or text (%%writefile, %%html, %%markdown)
            source = "\n" + body
        lines = source.split("\n")
        for i, line in enumerate(lines):
            content = line.lstrip()
            shell = None
            if content.startswith("!"):
                shell = content[1:]
            else:
                assigned = re.match(r"^[\w, ]+=\s*!(.*)$", content)
                if assigned:
                    shell = assigned.group(1)
            if shell is not None:
                uses += shell_uses(shell, where, "notebook !", first_line=i + 1, python=scan_python_snippet)
                lines[i] = ""
            elif content.startswith("%"):
                magic = re.match(r"^%(?:system|sx)\s+(.*)$", content)
                if magic:
                    uses += shell_uses(magic.group(1), where, "notebook %system", first_line=i + 1)
                else:
                    uses += line_magic_uses(content, where, i + 1)
                lines[i] = ""
            elif content.endswith("?") and not content.startswith("#"):
                lines[i] = ""  # obj? / obj?? help
        code = "\n".join(lines)
        names |= named_strings(code)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            at = f" at line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            problems.append(ScanProblem(where, f"is not valid Python{at}; its imports were read line by line"))
            uses += read_lines(code, where)
            continue
        uses += read_tree(tree, where)
    return uses, problems, names
