"""Strings that name a module or a distribution where code uses them as one.

A quoted word is evidence only in a place that loads what it names, never for being a word: a
colour table's ``'black': '#000000'`` keeps neither black nor click. The places:

* a keyword argument or assignment that picks an implementation by name: ``engine=``,
  ``backend=``, ``plugins=``, ``driver=``, ``parser=``, ``flavor=``, ``loader=``, ``module=``
  (``pd.read_excel(f, engine="openpyxl")``);
* a setting whose value lists modules or dotted paths: Django's ``INSTALLED_APPS`` and
  ``MIDDLEWARE``, any ``*_BACKENDS``, ``*_CLASSES``, ``*_APPS``, ``*_PLUGINS``, ``*_EXTENSIONS``,
  ``*_ENGINE`` (``AUTHENTICATION_BACKENDS``, ``DEFAULT_RENDERER_CLASSES``), Sphinx's
  ``extensions``; the same names as dictionary keys (``'ENGINE': 'django.db.backends.postgresql'``,
  ``'BACKEND': 'django_redis.cache.RedisCache'``), and ``'class'``, ``'()'`` (logging
  configuration) and ``'_target_'`` (Hydra);
* the first argument of a call that imports or reads a package by name: ``mock.patch("a.b.f")``,
  ``monkeypatch.setattr("a.b.f", ...)``, ``import_string``, ``pydoc.locate``,
  ``importlib.metadata.version("scikit-learn")`` and its kin, ``importlib.resources.files("pkg")``,
  ``pkgutil.get_data``, ``pkg_resources`` lookups;
* ``"module://mplcairo.base"`` (a matplotlib backend module) and the driver of a database URL
  (``"postgresql+psycopg2://..."``).

Regular expressions over the text, not a parse: the scan of every Python file must stay fast. One
expression finds where values start (after ``=``, ``:`` or ``(``); the few characters before each
say whether the place loads by name. A string found in an odd place (a comment) can only keep a
package, never remove one.
``import_module("x")`` and ``pytest_plugins`` are imports, found by :mod:`.python`.
"""

from __future__ import annotations

import re

#: keyword arguments (and plain assignments) whose string value names an implementation to load
_KEYWORDS = ("engine", "backend", "backends", "plugin", "plugins", "driver", "flavor", "parser", "loader",
             "module", "modules", "serializer", "extensions", "features", "_target_")
#: the last word of a setting (or dictionary key) whose value lists modules or dotted paths
_SETTING_TAILS = frozenset({
    "apps", "middleware", "middlewares", "backend", "backends", "classes", "class", "engine", "engines",
    "plugins", "extensions", "modules", "processors", "loaders", "finders", "renderers", "parsers",
    "serializer", "handlers", "hashers", "validators", "_target_", "()", "cls",
})
_CALLS = (
    "patch", "setattr", "import_string", "import_by_path", "locate", "version", "distribution", "metadata",
    "requires", "get_distribution", "require", "files", "resource_filename", "resource_string",
    "resource_stream", "resource_exists", "resource_listdir", "read_text", "read_binary", "open_text",
    "open_binary", "get_data", "load_entry_point", "packages_distributions", "get_loader",
    "BeautifulSoup", "use", "switch_backend", "set_backend", "run_line_magic", "run_cell_magic",
)
#: calls whose every string argument may name what they load (a parser, a backend)
_CALLS_ALL_ARGS = frozenset({"BeautifulSoup"})
#: matplotlib backends (``matplotlib.use("QtAgg")``, ``%matplotlib qt``) -> the modules they load,
#: every binding a backend may pick: Qt's tries PyQt6, PySide6, PyQt5, PySide2 in turn
_QT = ("PyQt6", "PySide6", "PyQt5", "PySide2")
MATPLOTLIB_BACKENDS: dict[str, tuple[str, ...]] = {
    "qt": _QT, "qtagg": _QT, "qtcairo": _QT, "qt5": ("PyQt5", "PySide2"), "qt5agg": ("PyQt5", "PySide2"),
    "qt5cairo": ("PyQt5", "PySide2"), "qt6": ("PyQt6", "PySide6"), "qt4": ("PyQt4", "PySide"),
    "widget": ("ipympl",), "ipympl": ("ipympl",), "tk": ("tkinter",), "tkagg": ("tkinter",),
    "tkcairo": ("tkinter", "cairo", "cairocffi"), "wx": ("wx",), "wxagg": ("wx",), "wxcairo": ("wx", "cairo"),
    "gtk": ("gi",), "gtk3": ("gi",), "gtk4": ("gi",), "gtk3agg": ("gi",), "gtk4agg": ("gi",),
    "gtk3cairo": ("gi", "cairo"), "gtk4cairo": ("gi", "cairo"), "cairo": ("cairo", "cairocffi"),
    "webagg": ("tornado",), "nbagg": ("ipykernel",), "notebook": ("ipykernel",), "macosx": (), "osx": (),
    "agg": (), "pdf": (), "ps": (), "svg": (), "pgf": (), "template": (), "inline": ("matplotlib_inline",),
}


def backend_modules(backend: str) -> tuple[str, ...]:
    """The modules a matplotlib backend loads (``module://x.y`` names its module)."""
    if backend.startswith("module://"):
        return (backend[len("module://"):],)
    return MATPLOTLIB_BACKENDS.get(backend.lower(), ())


_STRING = r"""[rRbBuU]?(?:"[^"\\\n]*"|'[^'\\\n]*')"""
_STRING_AT = re.compile(_STRING)
#: where a value starts: after ``=``, ``:`` or ``(``, a string or a bracket. Anchored on those
#: few characters, so the scan skips most of the text at C speed; what names the value (the
#: identifier, key or call before it) is checked after. Lookbehinds drop at C speed what cannot
#: be one: ``==``, a ``:`` not after a quoted key, a call to anything but ``_CALLS``, an ``=``
#: after a name that ends in none of the last letters of ``_KEYWORDS`` and ``_SETTING_TAILS``
#: nor in ``]`` (``environ["X"] =``, ``X: list[str] =``).
_LAST = "".join(sorted({c for w in (*_KEYWORDS, *_SETTING_TAILS) if w != "()" for c in (w[-1].lower(), w[-1].upper())}))
_VALUE_START = re.compile(
    r"(?P<op>=(?:" + "|".join(rf"(?<=[{_LAST}\]]{gap}=)" for gap in ("", " ", r"\+", r" \+")) + r")(?!=)"
    r"|:(?<=[\"']:)|\((?:" + "|".join(rf"(?<={w}\()" for w in _CALLS) + r"))"
    r"\s*(?=[\[({\"']|[rRbBuU][\"'])"
)
_LINE_ANNOTATION = re.compile(r"[ \t]*([A-Za-z_]\w*)[ \t]*:[^=\n]*$")
_ENVIRON_KEY = re.compile(r"""\[[ \t]*["']([A-Za-z_]\w*)["'][ \t]*\][ \t]*\+?$""")
_NAME = re.compile(r"""["']([A-Za-z_][\w.-]*)["']""")
_DIALECT = re.compile(r"\+(?<=[A-Za-z0-9]\+)([A-Za-z_]\w*)://")  # anchored on "+": fewer than quotes
_VALUE_LIMIT = 20000
_CALL_SET = frozenset(_CALLS)
_KEYWORD_SET = frozenset(_KEYWORDS)


def _counts(word: str) -> bool:
    lower = word.lower()
    return lower in _SETTING_TAILS or lower.rsplit("_", 1)[-1] in _SETTING_TAILS or lower in (
        "installed_apps", "middleware_classes")


def _value(text: str, pos: int) -> str:
    """The value starting at ``pos``: one string literal, or a bracketed list, tuple, set or
    dict (strings inside respected), cut at a bound."""
    if pos >= len(text):
        return ""
    if text[pos] not in "([{":
        match = _STRING_AT.match(text, pos)
        return match.group() if match else ""
    depth = 0
    i = pos
    end = min(len(text), pos + _VALUE_LIMIT)
    while i < end:
        ch = text[i]
        if ch in "\"'":
            close = text.find(ch, i + 1)
            newline = text.find("\n", i + 1)
            if close < 0 or (0 <= newline < close):
                i = i + 1 if newline < 0 else newline
                continue
            i = close + 1
            continue
        if ch == "#":
            newline = text.find("\n", i)
            i = end if newline < 0 else newline
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return text[pos : i + 1]
        i += 1
    return text[pos:end]


def _identifier_before(text: str, end: int) -> str:
    start = end
    while start and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:end]


def _loads_by_name(text: str, op: str, at: int) -> str | None:
    """What kind of place the value after ``op`` (at ``at``) is: "call" (the first argument of a
    call in ``_CALLS``), "all" (every argument of such a call), "setting" (an assignment, keyword
    argument or dictionary key that names modules), "backend" (``matplotlib.use``); None for
    any other place."""
    end = at
    while end and text[end - 1] in " \t":
        end -= 1
    if op == "(":
        word = _identifier_before(text, end)
        if word not in _CALL_SET:
            return None
        if word in ("use", "switch_backend"):
            return "backend"
        if word in ("run_line_magic", "run_cell_magic"):
            return "magic"
        return "all" if word in _CALLS_ALL_ARGS else "call"
    if op == ":":  # {"ENGINE": ...}
        if not end or text[end - 1] not in "\"'":
            return None
        quote = text[end - 1]
        opening = text.rfind(quote, max(0, end - 80), end - 1)
        return "setting" if opening >= 0 and _counts(text[opening + 1 : end - 1]) else None
    # "=": not ==, !=, <=, >=, and what is assigned
    if end and text[end - 1] in "=!<>":
        return None
    if end and text[end - 1] == "+":
        end -= 1
        while end and text[end - 1] in " \t":
            end -= 1
    word = _identifier_before(text, end)
    if word:
        if text[end - len(word) - 1 : end - len(word)] == "." and word not in _KEYWORD_SET:
            return None
        return "setting" if word in _KEYWORD_SET or _counts(word) else None
    line_start = text.rfind("\n", 0, end) + 1
    head = text[line_start:end]
    key = _ENVIRON_KEY.search(head) or _LINE_ANNOTATION.match(head)  # environ["X_BACKEND"] =, X: list =
    return "setting" if key and _counts(key.group(1)) else None


#: magics (run_line_magic's first argument) -> the modules they load, as in a notebook
_MAGIC_MODULES = {"cython": ("Cython",), "sql": ("sql",), "lprun": ("line_profiler",),
                  "mprun": ("memory_profiler",), "memit": ("memory_profiler",)}


def _magic_names(call: str) -> set[str]:
    """``("load_ext", "line_profiler")`` -> line_profiler; ``("matplotlib", "qt")`` -> matplotlib
    and the Qt bindings."""
    strings = re.findall(r"""["']([^"'\n]*)["']""", call)
    if not strings:
        return set()
    magic, argument = strings[0], strings[1].split() if len(strings) > 1 else []
    if magic in ("load_ext", "reload_ext") and argument:
        return {argument[0]}
    if magic in ("matplotlib", "pylab"):
        options = [a for a in argument if not a.startswith("-")]
        return {"matplotlib", *backend_modules(options[0] if options else "inline")}
    return set(_MAGIC_MODULES.get(magic, ()))


def named_strings(text: str) -> set[str]:
    """Module and distribution names the code loads by name (see the module docstring). Only
    names: the line of the few that turn out to name a package is found later by
    :func:`conda_prune.appscan.python.locate`, which is cheaper than counting lines for all."""
    names: set[str] = set()
    if "'" not in text and '"' not in text:
        return names
    for match in _VALUE_START.finditer(text):
        place = _loads_by_name(text, match.group("op"), match.start())
        if place is None:
            continue
        if place == "all":
            continue  # below
        if place == "magic":  # a notebook exported as a script: get_ipython().run_line_magic("load_ext", "x")
            names.update(_magic_names(_value(text, match.start())))
            continue
        value = _value(text, match.end())
        if place in ("call", "backend"):  # the first argument only
            first = _STRING_AT.match(value) if value else None
            value = first.group() if first else ""
        if place == "backend":  # matplotlib.use("QtAgg")
            for backend in _NAME.findall(value):
                names.update(backend_modules(backend))
            continue
        names.update(_NAME.findall(value))
    for word in _CALLS_ALL_ARGS:  # BeautifulSoup(html, "lxml"): the first argument is seldom a string
        if word in text:
            for match in re.finditer(rf"(?<!\w){word}\s*(?=\()", text):
                names.update(_NAME.findall(_value(text, match.end())))
    if "module://" in text:
        names.update(m.group(1) for m in re.finditer(r"module://([A-Za-z_][\w.]*)", text)
                     if m.start() and text[m.start() - 1] in "\"'")
    if "://" in text:
        names.update(_DIALECT.findall(text))
    return {n for n in names if len(n) > 1 and n[-1] not in ".-" and ".." not in n and not ("-" in n and "." in n)}
