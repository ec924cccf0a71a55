"""Which files of an application are read, and as what.

Folders that are not the application's code are skipped: version control, caches, and any
folder that is itself an environment (``conda-meta/``, ``pyvenv.cfg``) or a ``site-packages``:
their imports are a library's, not the application's. Skipped environments are reported.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .types import ScanProblem

PYTHON = "python"
CYTHON = "cython"
NOTEBOOK = "notebook"
R = "r"
RMARKDOWN = "rmarkdown"
SHELL = "shell"
MAKE = "make"
DOCKER = "docker"
YAML = "yaml"
CONFIG = "config"
PROCFILE = "procfile"
JENKINS = "jenkins"
SNAKEMAKE = "snakemake"
JUST = "just"
PIXI = "pixi"
SCRIPT = "script"  # no extension: a script if it starts with #! (LICENSE, VERSION do not)

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", "node_modules", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".eggs", ".pixi", ".direnv", "site-packages",
    ".conda-prune-cache",
})
_EXTENSIONS = {
    ".py": PYTHON, ".pyw": PYTHON, ".pyx": CYTHON, ".pxd": CYTHON, ".pxi": CYTHON, ".ipynb": NOTEBOOK,
    ".r": R, ".rmd": RMARKDOWN, ".qmd": RMARKDOWN, ".rmarkdown": RMARKDOWN,
    ".sh": SHELL, ".bash": SHELL, ".zsh": SHELL, ".ksh": SHELL, ".mk": MAKE, ".mak": MAKE,
    ".yml": YAML, ".yaml": YAML, ".dockerfile": DOCKER, ".smk": SNAKEMAKE, ".snakefile": SNAKEMAKE, ".just": JUST,
}
_NAMES = {
    "makefile": MAKE, "gnumakefile": MAKE, "dockerfile": DOCKER, "containerfile": DOCKER,
    "procfile": PROCFILE, "jenkinsfile": JENKINS, "tox.ini": CONFIG, "setup.cfg": CONFIG,
    "pytest.ini": CONFIG, "pyproject.toml": CONFIG, ".rprofile": R, "snakefile": SNAKEMAKE, "justfile": JUST,
    ".justfile": JUST, "pixi.toml": PIXI,
}
_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:\s+(\S+))?")
#: files bigger than this are data, not code (a generated module of this size is still read)
MAX_BYTES = 64 * 1024 * 1024


def file_kind(name: str) -> str | None:
    lower = name.lower()
    if lower in _NAMES:
        return _NAMES[lower]
    if lower.startswith(("dockerfile.", "containerfile.")):
        return DOCKER
    _, ext = os.path.splitext(lower)
    return _EXTENSIONS.get(ext)


def shebang_kind(head: bytes) -> tuple[str | None, str | None]:
    """(kind, interpreter) from a script's first line: ``#!/usr/bin/env python3`` ->
    (PYTHON, "python3")."""
    match = _SHEBANG.match(head)
    if not match:
        return None, None
    program = os.path.basename(match.group(1).decode("utf-8", "replace"))
    if program == "env" and match.group(2):
        program = os.path.basename(match.group(2).decode("utf-8", "replace"))
        if program.startswith("-"):
            return None, None
    if re.match(r"^(?:python|pypy)", program):
        return PYTHON, program
    if program in ("sh", "bash", "zsh", "dash", "ksh"):
        return SHELL, program
    if program in ("Rscript", "R"):
        return R, program
    return None, program


@dataclass(frozen=True)
class AppFile:
    path: Path  # where to read it
    rel: str  # relative to its root, with "/" (the cache key)
    shown: str  # how the user sees it
    kind: str
    size: int
    mtime_ns: int


@dataclass
class Walk:
    files: list[AppFile] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    module_names: set[str] = field(default_factory=set)  # the application's own modules
    environments: list[str] = field(default_factory=list)  # skipped folders that are environments


def _is_environment(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "conda-meta")) or os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def _shown(root_shown: str, rel: str) -> str:
    return os.path.normpath(os.path.join(root_shown, rel)) if rel else root_shown


def walk_root(root: Path, shown: str, walk: Walk) -> None:
    """Collect the files below ``root`` (a folder or one file) into ``walk``."""
    try:
        st = os.stat(root)
    except OSError as exc:
        walk.problems.append(ScanProblem(shown, f"cannot be read ({exc.strerror}); nothing in it was scanned", True))
        return
    if not stat.S_ISDIR(st.st_mode):
        problem = _unreadable_reason(st)
        if problem:
            walk.problems.append(ScanProblem(shown, problem, True))
            return
        kind = file_kind(root.name) or SCRIPT
        walk.files.append(AppFile(root, root.name, shown, kind, st.st_size, st.st_mtime_ns))
        if kind in (PYTHON, CYTHON):
            walk.module_names.add(root.name.rsplit(".", 1)[0])
        return
    if root.name.isidentifier():
        walk.module_names.add(root.name)
    _walk_tree(root, shown, walk)


def _unreadable_reason(st: os.stat_result) -> str | None:
    """Why a file named as application code is not read (None: it is read). Either way the
    caller reports it: what such a file uses is unknown, and that stops a removal."""
    if not stat.S_ISREG(st.st_mode):
        from ..safeio import kind_of

        return f"is {kind_of(st.st_mode)}, not a regular file; not read, so what it uses is unknown"
    if st.st_size > MAX_BYTES:
        return (f"is {st.st_size // 2**20} MiB, over the {MAX_BYTES // 2**20} MiB read limit; not read, "
                "so what it uses is unknown")
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_tree(root: Path, shown: str, walk: Walk) -> None:
    top = os.path.realpath(root)
    seen: set[str] = {top}
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, rel_dir = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            walk.problems.append(ScanProblem(
                _shown(shown, rel_dir), f"cannot be listed ({exc.strerror}); what it holds was not scanned", True))
            continue
        has_python = False
        subfolders: list[tuple[str, str]] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name in SKIP_DIRS:
                    continue
                if _is_environment(entry.path):
                    walk.environments.append(_shown(shown, rel))
                    continue
                real = os.path.realpath(entry.path)
                if entry.is_symlink() and not _inside(real, top):
                    walk.problems.append(ScanProblem(_shown(shown, rel), (
                        f"is a symlink to {real}, outside the application: not followed, so what it holds is "
                        f"unknown. Pass --app {real} to scan it too"), True))
                    continue
                if real in seen:
                    continue  # a symlink loop, or a folder already read through another link
                seen.add(real)
                subfolders.append((entry.path, rel))
                continue
            kind = file_kind(entry.name)
            if kind is None and "." not in entry.name:
                kind = SCRIPT
            if kind is None:
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                walk.problems.append(ScanProblem(_shown(shown, rel), f"cannot be read ({exc.strerror})", True))
                continue
            problem = _unreadable_reason(st)
            if problem:
                if stat.S_ISREG(st.st_mode) or file_kind(entry.name) is not None:
                    walk.problems.append(ScanProblem(_shown(shown, rel), problem, True))
                continue
            if kind in (PYTHON, CYTHON):
                has_python = True
                walk.module_names.add(entry.name.rsplit(".", 1)[0])
            walk.files.append(AppFile(Path(entry.path), rel, _shown(shown, rel), kind, st.st_size, st.st_mtime_ns))
        if has_python and rel_dir:
            walk.module_names.add(os.path.basename(rel_dir))
        stack.extend(reversed(subfolders))
