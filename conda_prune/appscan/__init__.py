"""What an application uses, read from its files: imports, programs it runs, R packages, kernels.

:func:`scan_app` walks the given files and folders and returns an :class:`AppScan`: every
:class:`Use` with its file and line, the application's own module names, and any file it could
not read (a :class:`ScanProblem`). It knows nothing about environments; mapping uses to
packages is :mod:`conda_prune.env_prune`'s job. Results are cached per file (see
:mod:`.cache`), so a second run on an unchanged tree reads only the cache.

This package imports nothing outside the standard library (and :mod:`conda_prune.safeio`,
:mod:`conda_prune.cachedir`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..safeio import open_regular, read_fd
from . import cache as _cache
from . import walk as walk_module
from .python import locate
from .syntax import not_parsed
from .types import (
    DYNAMIC,
    EXECUTABLE,
    KERNEL,
    LIBRARY,
    MODULE,
    NAMED,
    R_PACKAGE,
    TYPING,
    AppScan,
    ScanProblem,
    Use,
)
from .walk import AppFile, Walk, walk_root

__all__ = [
    "DYNAMIC", "EXECUTABLE", "KERNEL", "LIBRARY", "MODULE", "NAMED", "R_PACKAGE", "TYPING",
    "AppScan", "ScanProblem", "Use", "locate", "scan_app", "scan_file",
]

Progress = Callable[[int, int], None]  # (files done, files in all)

_USE_CACHE = object()


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # imports are ASCII whatever the file's encoding


FileResult = tuple[list[Use], list[ScanProblem], set[str]]  # uses, problems, names


def scan_file(file: AppFile) -> FileResult:
    """The uses in one file, by its kind, and the module-like names it mentions.
    Never raises for bad content."""
    from . import walk
    from .notebook import scan_notebook
    from .python import named_strings, scan_cython, scan_python, scan_python_snippet
    from .rlang import r_file_uses, rmarkdown_uses
    from .shell import (
        config_uses,
        dockerfile_uses,
        jenkinsfile_uses,
        makefile_uses,
        procfile_uses,
        shell_uses,
        yaml_uses,
    )
    from .tasks import justfile_uses, snakefile_uses, task_table_uses

    shown = file.shown
    try:
        # a regular file of bounded size, opened so a FIFO or a device swapped in never blocks
        fd = open_regular(file.path, limit=walk.MAX_BYTES)
        try:
            raw = os.read(fd, 2)
            if file.kind == walk.SCRIPT and raw != b"#!":
                return [], [], set()  # a file without extension that is not a script
            raw += read_fd(fd, walk.MAX_BYTES - len(raw), file.path)
        finally:
            os.close(fd)
    except OSError as exc:
        return [], [ScanProblem(shown, f"cannot be read ({exc.strerror}); what it uses is unknown", True)], set()
    uses: list[Use] = []
    kind = file.kind
    if raw.startswith(b"#!"):
        script_kind, interpreter = walk.shebang_kind(raw[:200])
        if interpreter:
            uses.append(Use(EXECUTABLE, interpreter, shown, 1, "#!"))
        if kind == walk.SCRIPT:
            if script_kind is None:
                return uses, [], set()
            kind = script_kind
    elif kind == walk.SCRIPT:
        return [], [], set()
    text = _decode(raw)
    problems: list[ScanProblem] = []
    names: set[str] = set()
    if kind in (walk.PYTHON, walk.CYTHON):
        if kind == walk.PYTHON:
            found, problems = scan_python(text, shown)
        else:
            found, problems = scan_cython(text, shown)
        uses += found
        names = named_strings(text)
    elif kind == walk.NOTEBOOK:
        found, problems, names = scan_notebook(text, shown)
        uses += found
    elif kind == walk.R:
        uses += r_file_uses(text, shown)
    elif kind == walk.RMARKDOWN:
        uses += rmarkdown_uses(text, shown, scan_python_snippet)
    elif kind == walk.SHELL:
        uses += shell_uses(text, shown, "shell", python=scan_python_snippet)
    elif kind == walk.MAKE:
        uses += makefile_uses(text, shown, scan_python_snippet)
    elif kind == walk.DOCKER:
        uses += dockerfile_uses(text, shown, scan_python_snippet)
    elif kind == walk.YAML:
        uses += yaml_uses(text, shown, "CI" if _is_ci(file.rel) else "YAML", scan_python_snippet)
        names = _dotted_names(text)
    elif kind == walk.CONFIG:
        uses += config_uses(text, shown, scan_python_snippet)
        if file.path.name.lower() == "pyproject.toml":
            uses += task_table_uses(text, shown, scan_python_snippet)
        names = _dotted_names(text)
    elif kind == walk.PIXI:
        uses += task_table_uses(text, shown, scan_python_snippet, pixi_file=True)
    elif kind == walk.SNAKEMAKE:
        uses += snakefile_uses(text, shown, scan_python_snippet)
        names = named_strings(text)
    elif kind == walk.JUST:
        uses += justfile_uses(text, shown, scan_python_snippet)
    elif kind == walk.PROCFILE:
        uses += procfile_uses(text, shown, scan_python_snippet)
    elif kind == walk.JENKINS:
        uses += jenkinsfile_uses(text, shown, scan_python_snippet)
    return uses, problems, names


def _is_ci(rel: str) -> bool:
    lower = f"/{rel.lower()}"
    return (
        "/.github/workflows/" in lower
        or "/.circleci/" in lower
        or lower.endswith(("/.gitlab-ci.yml", "/.travis.yml", "/azure-pipelines.yml", "/bitbucket-pipelines.yml",
                           "/.drone.yml", "/appveyor.yml", "/.woodpecker.yml"))
    )


_DOTTED_NAME = re.compile(r"(?<![\w./$-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w/-])")


#: the last part of a dotted word that is a file or a host, not a module (``README.md``, ``numpy.org``)
_NOT_MODULE_ENDS = frozenset({
    "py", "pyc", "txt", "md", "rst", "toml", "yml", "yaml", "json", "cfg", "ini", "csv", "html", "htm", "css",
    "js", "png", "jpg", "svg", "gz", "zip", "tar", "whl", "lock", "log", "sh", "org", "com", "io", "net", "dev",
})


def _dotted_names(text: str) -> set[str]:
    """``a.b.C`` in configuration (``_target_: sklearn.svm.SVC``, logging handler classes,
    entry points): a module loaded by name. A file name or a host name is none."""
    return {n for n in _DOTTED_NAME.findall(text) if n.rsplit(".", 1)[-1].lower() not in _NOT_MODULE_ENDS}


def _scan_packed(file: AppFile) -> list[Any]:
    uses, problems, names = scan_file(file)
    return [*_cache.pack(file.shown, uses, problems), sorted(names)]


def _scan_chunk(files: list[AppFile]) -> list[list[Any]]:
    return [_scan_packed(f) for f in files]


#: below this many bytes to read, a second process costs more than it saves
PARALLEL_BYTES = 8 * 1024 * 1024


def _scan_files(files: list[AppFile]) -> Iterator[tuple[AppFile, FileResult | list[Any]]]:
    """Scan files: on the idle cores when there is much to read and ``fork`` is safe (Linux, no
    threads), giving packed results; otherwise in this process, giving uses."""
    size = sum(f.size for f in files)
    workers = _idle_cores()
    if workers > 1 and size >= PARALLEL_BYTES and _can_fork():
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        chunks: list[list[AppFile]] = [[] for _ in range(workers * 4)]
        loads = [0] * len(chunks)
        for file in sorted(files, key=lambda f: -f.size):  # largest first onto the lightest chunk
            i = loads.index(min(loads))
            chunks[i].append(file)
            loads[i] += file.size + 2048
        chunks = [c for c in chunks if c]
        try:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        except (OSError, RuntimeError, ValueError):  # no processes here (a sandbox)
            pool = None
        if pool is not None:
            with pool:
                for chunk, results in zip(chunks, pool.map(_scan_chunk, chunks)):
                    yield from zip(chunk, results)
            return
    for file in files:
        yield file, scan_file(file)


def _idle_cores() -> int:
    """Cores a scan can have: this one, plus those the load average leaves idle (on a busy
    machine a second process only adds its own start-up and the copying of results)."""
    cores = min(os.cpu_count() or 1, 8)
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1
    return max(1, min(cores, 1 + int(cores - busy)))


def _can_fork() -> bool:
    import sys
    import threading

    return sys.platform.startswith("linux") and threading.active_count() == 1


def scan_app(
    paths: Iterable[str | os.PathLike[str]],
    *,
    cache_dir: Path | None | object = _USE_CACHE,
    progress: Progress | None = None,
    check_syntax: bool | str = False,
) -> AppScan:
    """Scan the application at ``paths`` (files or folders).

    ``cache_dir``: where the per-file cache lives (default: the user's cache folder); None to
    scan without a cache. A missing path becomes a :class:`ScanProblem` with doubt: callers that
    remove anything must refuse, and should check paths first to give a usage error.

    ``check_syntax``: also find the Python files that do not parse (:mod:`.syntax`). True: before
    this returns. ``"later"``: in a second process, while the caller goes on;
    :meth:`AppScan.finish_syntax` collects the result. A file is parsed once per change: the
    cache remembers that it was checked."""
    from .syntax import SyntaxCheck

    roots = [Path(p) for p in paths]
    directory = _cache.default_cache_dir() if cache_dir is _USE_CACHE else cache_dir
    scan = AppScan(roots=tuple(roots))
    walks: list[tuple[Path, Walk]] = []
    module_names: set[str] = set()
    environments: list[str] = []
    for root in roots:
        walk = Walk()
        shown = os.path.normpath(str(root))
        if not os.path.lexists(root):
            scan.problems.append(ScanProblem(shown, "does not exist", True))
            continue
        walk_root(root, shown, walk)
        walks.append((root, walk))
        scan.problems += walk.problems
        module_names |= walk.module_names
        environments += walk.environments
    total = sum(len(w.files) for _, w in walks)
    done = 0
    names: dict[str, list[str]] = {}
    to_check: list[tuple[str, str, str]] = []  # (path, shown, kind) of files whose parse is unknown
    entry_of: dict[str, _cache.Entry] = {}  # shown -> its cache entry, to mark it checked
    caches: list[tuple[Path, Path, dict[str, _cache.Entry]]] = []  # (cache file, root, entries)

    def add_names(file: AppFile, found: Iterable[str]) -> None:
        for name in found:
            files = names.setdefault(name, [])
            if len(files) < 3:
                files.append(file.shown)

    def may_check(file: AppFile, entry: _cache.Entry | None, problems: list[ScanProblem]) -> None:
        if check_syntax and file.kind in _PARSED_KINDS and not (entry is not None and entry[6]):
            if not any(p.parser_message or p.doubt for p in problems):  # not parsed already, or not read
                to_check.append((str(file.path), file.shown, file.kind))
                if entry is not None:
                    entry_of[file.shown] = entry

    for root, walk in walks:
        cache_path = _cache.cache_file(Path(directory), root) if isinstance(directory, Path) else None
        old = _cache.load(cache_path) if cache_path else {}
        new: dict[str, _cache.Entry] = {}
        fresh: list[AppFile] = []
        for file in walk.files:
            entry = old.get(file.rel)
            if (entry is not None and len(entry) == 7 and entry[0] == file.size and entry[1] == file.mtime_ns
                    and entry[2] == file.kind):
                new[file.rel] = entry
                uses, problems = _cache.unpack(file.shown, entry[3], entry[4])
                scan.uses += uses
                scan.problems += problems
                add_names(file, entry[5])
                may_check(file, entry, problems)
                scan.cached += 1
            else:
                fresh.append(file)
        done += len(walk.files) - len(fresh)
        for n, (file, result) in enumerate(_scan_files(fresh), start=1):
            if isinstance(result, tuple):  # scanned here
                uses, problems, found = result
                packed = [*_cache.pack(file.shown, uses, problems), sorted(found)]
            else:  # scanned by another process
                packed = result
                uses, problems = _cache.unpack(file.shown, packed[0], packed[1])
                found = packed[2]
            scan.uses += uses
            scan.problems += problems
            add_names(file, found)
            # checked: its parse is known (not Python, or the syntax tree read it and said so)
            entry = [file.size, file.mtime_ns, file.kind, *packed,
                     0 if file.kind in _PARSED_KINDS and not any(p.parser_message for p in problems) else 1]
            if not any(p.doubt for p in problems):  # a file that could not be read is read again next time
                new[file.rel] = entry
            may_check(file, entry if file.rel in new else None, problems)
            if progress is not None and n % 64 == 0:
                progress(done + n, total)
        done += len(fresh)
        if progress is not None:
            progress(done, total)
        if cache_path is not None:
            caches.append((cache_path, root, new))
            if fresh or len(old) != len(new):
                _cache.save(cache_path, root, new)
        scan.files += len(walk.files)
    scan.names = {name: tuple(files) for name, files in names.items()}
    scan.first_party = frozenset(module_names)
    scan.skipped_environments = tuple(environments)
    if to_check:
        def checked(items: list[tuple[str, str, str]], found: list[tuple[str, int | None, str]]) -> None:
            """Mark the cache entries checked, with what the parse said, and write them again."""
            said = {shown: (line, message) for shown, line, message in found}
            for _, shown, _ in items:
                entry = entry_of.get(shown)
                if entry is None:
                    continue
                entry[6] = 1
                if shown in said:
                    line, message = said[shown]
                    entry[4] = [*entry[4], *_cache.pack(shown, [], [not_parsed(shown, line, message)])[1]]
            for cache_path, root, entries in caches:
                _cache.save(cache_path, root, entries)

        scan.syntax = SyntaxCheck(to_check, on_done=checked if caches else None)
        if check_syntax == "later":
            scan.syntax.start()
        else:
            scan.finish_syntax()
    return scan


#: the kinds of file whose parse is checked (a file without extension only if its #! names Python)
_PARSED_KINDS = frozenset({walk_module.PYTHON, walk_module.SCRIPT})
