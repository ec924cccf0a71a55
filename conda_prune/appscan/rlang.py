"""R packages an application loads: ``library(x)``, ``require(x)``, ``requireNamespace("x")``,
``loadNamespace``, ``x::f`` and ``x:::f``, in ``.R`` files and in the R chunks of R Markdown and
Quarto documents (whose Python chunks are Python, and whose ``reticulate::import("m")`` loads a
Python module), and the programs R code runs (``system()``, ``system2()``, ``processx::run``).

Comments are not stripped: a package named only in a comment is kept, which is the safe way
to be wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .types import EXECUTABLE, MODULE, R_PACKAGE, Use

_NAME = r"[A-Za-z][A-Za-z0-9._]*"
_LOAD = re.compile(
    r"\b(library|require|requireNamespace|loadNamespace|p_load|use_package)\s*\(\s*"
    r"(?:package\s*=\s*)?[\"'`]?(" + _NAME + r")[\"'`]?"
)
_COLONS = re.compile(r"(?<![\w.:$@])(" + _NAME + r"):::?(?=[A-Za-z._`])")
_P_LOAD_LIST = re.compile(r"\bp_load\s*\(([^)]*)\)")
_RETICULATE = re.compile(r"\b(?:import|import_from_path|py_require)\s*\(\s*[\"']([A-Za-z_][\w.]*)[\"']")
_CHUNK = re.compile(r"^```+\s*\{\s*([A-Za-z]+)[^}]*\}\s*$(.*?)^```+\s*$", re.M | re.S)


def _line(text: str, pos: int, first_line: int) -> int:
    return first_line + text.count("\n", 0, pos)


def r_uses(text: str, path: str, first_line: int = 1) -> list[Use]:
    uses: list[Use] = []
    for match in _LOAD.finditer(text):
        how = match.group(1)
        name = match.group(2)
        if how in ("p_load", "use_package"):
            continue  # read below with every name they list
        uses.append(Use(R_PACKAGE, name, path, _line(text, match.start(), first_line), how,
                        optional=how in ("requireNamespace", "require")))
    for match in _P_LOAD_LIST.finditer(text):
        for name in re.findall(_NAME, match.group(1)):
            if name not in ("character.only", "TRUE", "FALSE", "install", "update"):
                uses.append(Use(R_PACKAGE, name, path, _line(text, match.start(), first_line), "p_load"))
    for match in _COLONS.finditer(text):
        uses.append(Use(R_PACKAGE, match.group(1), path, _line(text, match.start(), first_line), "::"))
    uses += _r_command_uses(text, path, first_line)
    if "reticulate" in text:
        for match in _RETICULATE.finditer(text):
            uses.append(Use(MODULE, match.group(1), path, _line(text, match.start(), first_line), "reticulate"))
    return uses


_R_SHELL = re.compile(r"\b(system|shell)\s*\(\s*(?:command\s*=\s*|cmd\s*=\s*)?([\"'])((?:(?!\2)[^\\]|\\.)*)\2")
_R_PROGRAM = re.compile(
    r"\b(system2|run|exec_wait|exec_background|exec_internal|Sys\.which|process\$new)\s*\(\s*"
    r"(?:command\s*=\s*)?[\"']([^\"'\s]+)[\"']")


def _r_command_uses(text: str, path: str, first_line: int) -> list[Use]:
    """Programs R code runs: ``system("cmd args")`` and ``shell()`` through a shell,
    ``system2("cmd", args)``, ``processx::run("cmd")``, ``sys::exec_wait("cmd")`` directly, and
    programs looked up with ``Sys.which``. Only literal commands can be known."""
    from .shell import shell_uses

    uses: list[Use] = []
    if "system" in text or "shell" in text:
        for match in _R_SHELL.finditer(text):
            command = match.group(3).replace('\\"', '"').replace("\\'", "'")
            uses += shell_uses(command, path, f"{match.group(1)}()", first_line=_line(text, match.start(), first_line))
    for match in _R_PROGRAM.finditer(text):
        how = match.group(1)
        uses.append(Use(EXECUTABLE, match.group(2).rsplit("/", 1)[-1], path, _line(text, match.start(), first_line),
                        f"{how}()"))
    return uses


def r_file_uses(text: str, path: str) -> list[Use]:
    """An R script: its packages, and R itself (the script needs ``Rscript``)."""
    return [Use(EXECUTABLE, "Rscript", path, 0, "R script"), *r_uses(text, path)]


def rmarkdown_uses(text: str, path: str, python: Callable[[str, str, int], list[Use]]) -> list[Use]:
    """R Markdown / Quarto: R chunks as R, Python chunks as Python, shell chunks as shell."""
    from .shell import shell_uses

    uses: list[Use] = []
    saw_r = False
    for match in _CHUNK.finditer(text):
        engine = match.group(1).lower()
        first = _line(text, match.start(2), 1) + 1
        body = match.group(2).lstrip("\n")
        if engine == "r":
            saw_r = True
            uses += r_uses(body, path, first_line=first)
        elif engine == "python":
            uses += python(body, path, first)
        elif engine in ("bash", "sh", "zsh"):
            uses += shell_uses(body, path, "chunk", first_line=first, python=python)
    inline = re.findall(r"`r [^`]*`", text)
    if inline:
        saw_r = True
        uses += r_uses("\n".join(inline), path)
    if saw_r or path.lower().endswith((".rmd", ".rmarkdown")):
        uses.append(Use(EXECUTABLE, "R", path, 0, "R Markdown"))
    return uses
