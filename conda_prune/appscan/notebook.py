"""Jupyter notebooks: their code cells read as Python (IPython magics and shell escapes
included), and the kernel they run on."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator

from .python import named_strings, read_lines, read_tree, scan_python_snippet
from .shell import shell_uses
from .types import KERNEL, ScanProblem, Use

_CELL_MAGIC_SHELL = re.compile(r"^%%(?:bash|sh|script\s+(?:ba)?sh|system)\b")


_CELL_MAGIC_R = re.compile(r"^%%R\b")


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
            first, _, body = source.partition("\n")
            if not re.match(r"^\s*%%(?:time|timeit|capture|prun|writefile|html|markdown|latex|javascript|js|svg)\b", first):
                continue  # another language's cell magic
            if re.match(r"^\s*%%(?:writefile|html|markdown|latex|javascript|js|svg)\b", first):
                continue
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
