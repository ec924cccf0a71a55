"""Workflows and task runners: Snakemake's ``Snakefile``/``*.smk``, justfiles, and the task tables
of ``pyproject.toml`` (poe, pdm, hatch, taskipy, rye, pixi) and ``pixi.toml``.

Each names the commands it runs in its own syntax; once found, a command is read as any shell
line is (:func:`.shell.shell_uses`), and code in another language as that language. As for
shell scripts, reading too much is the safe direction: a word taken for a command can only keep
a package.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from typing import Any

from .shell import PythonScanner, argv_uses, shell_uses
from .types import EXECUTABLE, MODULE, Use

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")  # {input}, {args}: a value filled in at run time

# -- Snakemake ----------------------------------------------------------------------------------

_SNAKE_DIRECTIVE = re.compile(r"^[ \t]*(shell|script|notebook)[ \t]*:", re.M)
_SNAKE_SHELL_CALL = re.compile(r"(?<![\w.])shell\s*\(\s*")
_STRING_START = re.compile(r"[rRfFbBuU]{0,2}(\"\"\"|'''|\"|')")
#: the program Snakemake runs a ``script:`` with, by the script's extension
_SCRIPT_RUNNERS = {".py": "python", ".r": "Rscript", ".rmd": "Rscript", ".jl": "julia", ".rs": "rust-script",
                   ".sh": "bash"}


def _strings_at(text: str, pos: int) -> tuple[list[tuple[int, str]], int]:
    """The string literals from ``pos`` on, as Python reads adjacent ones (``"a " "b"``, over
    lines): (offset, value) each, and where they end. An f-string's braces stay as written."""
    found: list[tuple[int, str]] = []
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n\\":
            pos += 1
        if pos < n and text[pos] == "#":
            newline = text.find("\n", pos)
            pos = n if newline < 0 else newline
            continue
        match = _STRING_START.match(text, pos)
        if not match:
            break
        quote = match.group(1)
        start = match.end()
        end = start
        while True:
            end = text.find(quote, end)
            if end < 0:
                return found, n
            backslashes = len(text[start:end]) - len(text[start:end].rstrip("\\"))
            if backslashes % 2 == 0:
                break
            end += 1
        prefix = match.group()[: -len(quote)]
        literal = prefix.replace("f", "").replace("F", "") + text[pos + len(prefix) : end + len(quote)]
        try:
            value = ast.literal_eval(literal)  # an f-string's braces stay as written
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = text[start:end]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        found.append((pos, str(value)))
        pos = end + len(quote)
    return found, pos


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def snakefile_uses(text: str, path: str, python: PythonScanner) -> list[Use]:
    """A Snakefile is Python with rules: its Python (imports, ``run:`` blocks), the commands of
    ``shell:`` directives and ``shell()`` calls, and the interpreter each ``script:`` needs.
    The workflow itself runs with ``snakemake``. A rule's ``conda:`` environment is its own;
    its commands are still read here, which can only keep more."""
    from .python import read_lines

    uses = [Use(EXECUTABLE, "snakemake", path, 0, "Snakefile")]
    uses += read_lines(text, path)
    how = "Snakefile"
    for match in _SNAKE_DIRECTIVE.finditer(text):
        directive = match.group(1)
        strings, _ = _strings_at(text, match.end())
        if not strings:
            continue
        line = _line_of(text, strings[0][0])
        value = strings[0][1]
        if directive == "shell":
            command = _PLACEHOLDER.sub("{}", "".join(v for _, v in strings))
            uses += shell_uses(command, path, f"{how} shell:", first_line=line, python=python)
        elif directive == "script":
            suffix = ("." + value.rsplit(".", 1)[-1].lower()) if "." in value else ""
            runner = _SCRIPT_RUNNERS.get(suffix)
            if runner:
                uses.append(Use(EXECUTABLE, runner, path, line, f"{how} script:"))
        else:  # notebook: run with jupyter nbconvert
            uses.append(Use(EXECUTABLE, "jupyter-nbconvert", path, line, f"{how} notebook:"))
    for match in _SNAKE_SHELL_CALL.finditer(text):
        strings, _ = _strings_at(text, match.end())
        if strings:
            value = _PLACEHOLDER.sub("{}", "".join(v for _, v in strings))
            uses += shell_uses(value, path, f"{how} shell()", first_line=_line_of(text, strings[0][0]), python=python)
    return uses


# -- just ---------------------------------------------------------------------------------------

_JUST_RECIPE = re.compile(r"^@?[A-Za-z_][\w-]*(?:\s+[^:]*?)?\s*:(?!=)")
_JUST_SETTING = re.compile(r"^(?:export\s+)?[A-Za-z_][\w-]*\s*:=\s*(.*)$")
_JUST_SHELL = re.compile(r"^set\s+(?:shell|windows-shell|script-interpreter)\s*:=\s*\[\s*[\"']([^\"']+)[\"']")
_JUST_INTERPOLATION = re.compile(r"\{\{.*?\}\}")


def justfile_uses(text: str, path: str, python: PythonScanner) -> list[Use]:
    """Recipe lines are shell (``@`` and ``-`` prefixes dropped, ``{{var}}`` left as an unknown
    word); a recipe starting with ``#!`` is a script in that language; backticks in assignments
    run a command; ``set shell := ["zsh", ...]`` names the shell."""
    from .walk import PYTHON, SHELL, shebang_kind

    uses = [Use(EXECUTABLE, "just", path, 0, "justfile")]
    how = "justfile"
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        i += 1
        if not stripped or raw[:1] in " \t" or stripped.startswith("#"):
            continue
        shell = _JUST_SHELL.match(stripped)
        if shell:
            uses.append(Use(EXECUTABLE, shell.group(1).rsplit("/", 1)[-1], path, i, how))
            continue
        setting = _JUST_SETTING.match(stripped)
        if setting:
            for command in re.findall(r"`([^`]+)`", setting.group(1)):
                uses += shell_uses(_JUST_INTERPOLATION.sub("{}", command), path, how, first_line=i, python=python)
            continue
        if not _JUST_RECIPE.match(stripped):
            continue
        body: list[tuple[int, str]] = []
        while i < len(lines) and (lines[i][:1] in " \t" or not lines[i].strip()):
            if lines[i].strip():
                body.append((i + 1, lines[i]))
            i += 1
        if not body:
            continue
        first = body[0][1].strip()
        if first.startswith("#!"):
            kind, interpreter = shebang_kind(first.encode())
            if interpreter:
                uses.append(Use(EXECUTABLE, interpreter, path, body[0][0], f"{how} #!"))
            indent = min(len(b) - len(b.lstrip()) for _, b in body)
            code = "\n".join(_JUST_INTERPOLATION.sub("0", b[indent:]) for _, b in body[1:])
            if kind == PYTHON:
                uses += python(code, path, body[0][0] + 1)
            elif kind == SHELL:
                uses += shell_uses(code, path, how, first_line=body[0][0] + 1, python=python)
            continue
        for number, line in body:
            command = line.strip().lstrip("@-").strip()
            if command.startswith("#"):
                continue
            uses += shell_uses(_JUST_INTERPOLATION.sub("{}", command), path, how, first_line=number, python=python)
    return uses


# -- task tables in TOML ------------------------------------------------------------------------

_ENTRY_POINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*:")


def _load_toml(text: str) -> dict[str, Any] | None:
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
    except ImportError:  # pragma: no cover - tomli is missing: read line by line instead
        return None
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError, MemoryError):  # TOMLDecodeError is a ValueError
        return None
    return data if isinstance(data, dict) else None


def _table(data: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _task_tables(data: dict[str, Any], pixi_file: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """(runner, table of tasks) for every task table the file has."""
    tool = _table(data, "tool")
    yield "poe", _table(tool, "poe", "tasks")
    yield "pdm", _table(tool, "pdm", "scripts")
    yield "rye", _table(tool, "rye", "scripts")
    yield "taskipy", _table(tool, "taskipy", "tasks")
    for env in _table(tool, "hatch", "envs").values():
        yield "hatch", _table(env, "scripts")
    for pixi in ([data] if pixi_file else []) + [_table(tool, "pixi")]:
        yield "pixi", _table(pixi, "tasks")
        for target in _table(pixi, "target").values():
            yield "pixi", _table(target, "tasks")
        for feature in _table(pixi, "feature").values():
            yield "pixi", _table(feature, "tasks")
            for target in _table(feature, "target").values():
                yield "pixi", _table(target, "tasks")


def _commands(runner: str, task: Any) -> Iterator[tuple[str, str | list[str]]]:
    """("shell", text), ("argv", words) or ("module", name) for one task of a table."""
    if isinstance(task, str):
        yield "shell", task
    elif isinstance(task, list):
        for item in task:  # hatch: a list of commands; poe, pdm composite: a list of tasks or commands
            yield from _commands(runner, item)
    elif isinstance(task, dict):
        for key in ("cmd", "shell", "script", "call", "composite", "sequence", "chain"):
            value = task.get(key)
            if value is None:
                continue
            if key in ("script", "call") and isinstance(value, str):
                entry = _ENTRY_POINT.match(value)  # "pkg.module:function(args)"
                if entry:
                    yield "module", entry.group(1)
            elif key == "cmd" and isinstance(value, list) and all(isinstance(v, str) for v in value):
                yield "argv", value  # pdm, pixi: the command as its words
            else:
                yield from _commands(runner, value)


def _locate(text: str, needle: str) -> int:
    first = needle.strip().split("\n", 1)[0][:80]
    pos = text.find(first) if first else -1
    return _line_of(text, pos) if pos >= 0 else 0


_TASK_SECTION = re.compile(r"^\s*\[\s*(?:tool\.(?:poe|pdm|rye|taskipy|hatch|pixi)\b[^\]]*|(?:feature\.[^\]]*\.)?"
                           r"(?:target\.[^\]]*\.)?tasks[^\]]*)\]\s*$")


def task_table_uses(text: str, path: str, python: PythonScanner, *, pixi_file: bool = False) -> list[Use]:
    """Commands of the task tables (``[tool.poe.tasks]``, ``[tool.pdm.scripts]``,
    ``[tool.hatch.envs.*.scripts]``, ``[tool.taskipy.tasks]``, ``[tool.rye.scripts]``, pixi's
    ``[tasks]`` and ``[feature.*.tasks]``): strings and lists are commands, tables give theirs in
    ``cmd``/``shell``, and ``script``/``call = "pkg.mod:func"`` imports ``pkg.mod``. A file that
    is not valid TOML is read line by line: every quoted value in a task section is a command."""
    data = _load_toml(text)
    uses: list[Use] = []
    if data is None:
        section = False
        for number, line in enumerate(text.splitlines(), start=1):
            if line.lstrip().startswith("["):
                section = bool(_TASK_SECTION.match(line))
                continue
            if section:
                for value in re.findall(r"=\s*[\"']([^\"']+)[\"']", line):
                    uses += shell_uses(_PLACEHOLDER.sub("{}", value), path, "tasks", first_line=number, python=python)
        return uses
    for runner, table in _task_tables(data, pixi_file):
        how = f"{runner} task"
        for name, task in table.items():
            if runner == "pdm" and name == "_":
                continue  # settings shared by every script
            for what, value in _commands(runner, task):
                if what == "module":
                    uses.append(Use(MODULE, str(value), path, _locate(text, str(value)), how))
                elif what == "argv":
                    words = [_PLACEHOLDER.sub("{}", w) for w in value]
                    uses += argv_uses(words, path, _locate(text, value[0]), how, python)
                else:
                    command = _PLACEHOLDER.sub("{}", str(value))
                    uses += shell_uses(command, path, how, first_line=_locate(text, str(value)), python=python)
    return uses
