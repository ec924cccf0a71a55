"""The import closure: what importing the application's modules loads from the environment.

The application scan finds what the application imports; this module follows those imports
through the installed code they reach, transitively, as a freezer does (PyInstaller's
modulegraph is the reference): importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and
``a/b/c``; ``from a import b`` imports the submodule ``a.b`` where there is one; a relative
import is resolved against the module's own package. Each import of an installed module is
one of two kinds:

* **at import time**: a module-level statement (guarded by ``try/except ImportError`` or not,
  or an optional-import helper called with a literal name, ``import_optional_dependency("x")``,
  ``importlib.import_module("x")``, ``__import__("x")``). It runs whenever the module is
  imported, so its package is *needed*: "pandas imports it when present (pyarrow <-
  pandas/compat/pyarrow.py:12 <- pandas <- app/io.py:3)". Its own imports are followed in turn.
* **on demand**: inside a function, or a lazy module ``__getattr__``. It runs only if that
  function is called: the package is named beside its "unused" verdict, with the chain, and
  stays with ``--keep-optional``. What such a module imports at its own top level is on demand
  too; what its functions import (two calls away) is not followed.

Why the project's own reader (:func:`conda_prune.appscan.python.installed_imports`) and not
modulegraph: modulegraph compiles every module it reaches to bytecode (a parse and a compile,
about 2 µs per source line; the line reader needs no parse for most files and its results are
cached per file), it resolves modules against the ``sys.path`` of the interpreter running it
(here conda's, not the environment's, which may be another Python version), PyInstaller's
copy is internal to PyInstaller (the standalone ``modulegraph`` 0.19 is the older form of it),
and it does not tell a function-level
import from a module-level one in the form needed here. Where a module lives comes from the
files each package installed (its record's ``files``, a pip RECORD), as for the application's
own imports, never from importing anything. Measured (``bench/bench_closure.py``): on numpy,
pandas, scipy and matplotlib, modulegraph 0.19 stopped with a ``RecursionError`` after 71 s;
``ast.parse`` alone over the 1,953 files the closure reads took about twice as long as reading
their imports here.

Per-file import lists are cached like the application scan's (path, size and mtime in
nanoseconds; :data:`CLOSURE_VERSION`), one JSON file per environment under the user's cache
folder (``$XDG_CACHE_HOME/conda-prune/closure``). The finished result is kept there too, under
the application's imports and the environment's packages, with every file it read: while
those are the same and no file changed, a run only checks the files (a cached run on a
scientific stack reaches thousands of modules; walking them again costs more than the check).
A file that cannot be read is a doubt (what it loads is unknown), never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..appscan import EXECUTABLE, MODULE, AppScan
from ..appscan.cache import default_cache_dir
from ..environment import module_of, owner_key
from ..graph import DependencyGraph
from ..records import EnvironmentData
from ..safeio import open_regular, read_bytes, read_json_cache
from .results import Evidence, Loads

#: bump when what the reader finds in an installed file changes, so older entries are not reused
CLOSURE_VERSION = 2
#: installed files larger than this are not read (generated tables, not import statements)
MAX_BYTES = 16 * 1024 * 1024
#: evidence kinds of the closure (they appear in --json)
IMPORT_TIME = "import-time"
ON_DEMAND = "on-demand"

_USE_CACHE = object()
#: ``include "compat.pxi"`` in a Cython source, kept in the per-file lists as a pseudo-import
_CYTHON_INCLUDE = re.compile(r"""^include[ \t]+(["'])([\w./-]+)\1""", re.M)
_INCLUDE = "<include>"


@dataclass(frozen=True)
class _Import:
    """One import statement of an installed module, as read (relative names keep their dots)."""

    name: str
    line: int
    subnames: tuple[str, ...]
    deferred: bool
    optional: bool
    source: str = ""  # the file it is written in, when not the module's own (a Cython include)


@dataclass
class ModuleIndex:
    """Where each importable module of an environment is, and which package installed it."""

    files: dict[str, str] = field(default_factory=dict)  # dotted module -> prefix-relative source (or extension)
    owners: dict[str, str] = field(default_factory=dict)  # dotted module -> graph key
    packages: set[str] = field(default_factory=set)  # modules that are packages (an __init__)
    cython: dict[str, str] = field(default_factory=dict)  # extension module -> the .pyx source shipped beside it
    scripts: dict[str, tuple[str, str]] = field(default_factory=dict)  # bin/<name> -> (path, graph key)

    @classmethod
    def of(cls, env: EnvironmentData) -> ModuleIndex:
        index = cls()

        pyx: set[str] = set()

        def add(path: str, key: str) -> None:
            if path.startswith(("bin/", "Scripts/")) and path.count("/") == 1:
                index.scripts[path.split("/", 1)[1]] = (path, key)
                return
            if path.endswith(".pyx"):
                pyx.add(path)
                return
            if not path.endswith((".py", ".so", ".pyd")):
                return
            module = module_of(path)
            if module is None:
                return
            source = path.endswith(".py")
            if module not in index.files or (source and not index.files[module].endswith(".py")):
                index.files[module] = path
                index.owners[module] = key
            if source and path.endswith("/__init__.py"):
                index.packages.add(module)

        for record in env.records:
            key = f"conda:{record.name}"
            for path in record.files:
                add(path, key)
        record_names = env.name_of_dist
        for dist in env.pip:
            if dist.is_pip_installed:
                key = owner_key(dist, record_names)
                for path in dist.files:
                    add(path, key)
        for module, path in index.files.items():
            if not path.endswith(".py"):  # lib.cpython-311-x86_64-linux-gnu.so -> lib.pyx beside it
                folder, _, name = path.rpartition("/")
                source = f"{folder}/{name.split('.', 1)[0]}.pyx"
                if source in pyx:
                    index.cython[module] = source
        return index


@dataclass
class ClosureStats:
    """What a run did: for the benchmark and for tests (counters, not timings, decide those)."""

    modules: int = 0  # modules reached
    files_read: int = 0  # installed files read and parsed this run
    files_cached: int = 0  # installed files whose imports came from the cache
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> wall time


@dataclass
class Closure:
    """What the application's imports load through installed code, by package."""

    needed: dict[str, list[Evidence]] = field(default_factory=dict)  # graph key -> why (import time)
    on_demand: dict[str, list[Evidence]] = field(default_factory=dict)  # graph key -> how (on demand)
    doubts: list[str] = field(default_factory=list)
    stats: ClosureStats = field(default_factory=ClosureStats)

    def loads(self) -> Loads:
        return Loads(needed=dict(self.needed), on_demand=dict(self.on_demand), doubts=list(self.doubts))


# -- the per-file cache -------------------------------------------------------------------------


def _cache_path(cache_dir: Path, prefix: Path) -> Path:
    digest = hashlib.sha256(os.path.realpath(prefix).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return cache_dir / "closure" / f"{digest}.json"


def _load_cache(path: Path | None) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """(per-file import lists, finished results by signature)."""
    if path is None:
        return {}, {}
    data = read_json_cache(path)
    if not isinstance(data, dict) or data.get("version") != CLOSURE_VERSION or not isinstance(data.get("files"), dict):
        return {}, {}
    results = data.get("results")
    return data["files"], results if isinstance(results, dict) else {}


def _save_cache(path: Path, prefix: Path, files: dict[str, list[Any]], results: dict[str, Any]) -> None:
    """Write atomically; a cache that cannot be written is only a slower next run."""
    from ..safeio import write_json_atomically

    write_json_atomically(path, {"version": CLOSURE_VERSION, "prefix": os.path.realpath(prefix), "files": files,
                                 "results": results}, ".closure-")


#: finished results kept per environment (one per application, roughly)
_RESULTS_KEPT = 8


def _signature(env: EnvironmentData, scan: AppScan) -> str:
    """What a finished result depends on besides the files it read: the application's imports
    and the programs it runs (with their sites, which the chains show), and the packages of the
    environment (a package installed since may provide a module nothing provided before)."""
    seeds = sorted(
        (u.kind, u.name, u.subnames, u.location, u.optional) for u in scan.uses if u.kind in (MODULE, EXECUTABLE)
    )
    packages = sorted(r.dist for r in env.records) + sorted(f"{d.name}=={d.version}" for d in env.pip)
    text = json.dumps([CLOSURE_VERSION, seeds, packages], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _unchanged(prefix: Path, files: list[list[Any]]) -> bool:
    for rel, size, mtime in files:
        try:
            st = os.stat(os.path.join(prefix, rel))
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


def _evidence_json(found: dict[str, list[Evidence]]) -> dict[str, list[list[str]]]:
    return {k: [[e.kind, e.detail, e.location] for e in v] for k, v in found.items()}


def _evidence_of(data: dict[str, list[list[str]]]) -> dict[str, list[Evidence]]:
    return {k: [Evidence(*e) for e in v] for k, v in data.items()}


def _pack(imports: list[_Import]) -> list[list[Any]]:
    return [[i.name, i.line, list(i.subnames), int(i.deferred), int(i.optional)] for i in imports]


def _unpack(packed: list[list[Any]]) -> list[_Import]:
    return [_Import(n, line, tuple(s), bool(d), bool(o)) for n, line, s, d, o in packed]


# -- reading -------------------------------------------------------------------------------------


class _Reader:
    """Import lists of installed files: from the cache while a file is unchanged, else read."""

    def __init__(self, prefix: Path, cache: dict[str, list[Any]], stats: ClosureStats) -> None:
        self.prefix = prefix
        self.old = cache
        self.new: dict[str, list[Any]] = {}
        self.stats = stats
        self.doubts: list[str] = []

    def module_imports(self, rel: str, cython: str | None) -> list[_Import]:
        """What a module imports: its source; for an extension module, the Cython source shipped
        beside it (``pyarrow/lib.pyx`` and the ``.pxi`` files it includes), where there is one."""
        if rel.endswith(".py") or rel.startswith(("bin/", "Scripts/")):
            return self.imports(rel)
        if cython is None:
            return []  # compiled without its source: what it imports is unknown here (its libraries are ELF's)
        found: list[_Import] = []
        seen: set[str] = set()
        todo = [cython]
        while todo and len(seen) < 200:
            source = todo.pop()
            if source in seen:
                continue
            seen.add(source)
            if source != cython and not os.path.isfile(os.path.join(self.prefix, source)):
                continue  # an include the package does not ship (made at build time): compiled in, not a doubt
            folder = source.rpartition("/")[0]
            for imp in self.imports(source):
                if imp.name.startswith(_INCLUDE):
                    todo.append(os.path.normpath(f"{folder}/{imp.name[len(_INCLUDE):]}"))
                else:
                    found.append(_Import(imp.name, imp.line, imp.subnames, imp.deferred, imp.optional, source))
        return found

    def imports(self, rel: str) -> list[_Import]:
        from ..appscan.python import installed_imports

        path = os.path.join(self.prefix, rel)
        try:
            st = os.stat(path)
        except OSError as exc:
            self.doubts.append(f"{path} cannot be read ({exc.strerror}): what it imports is unknown; "
                               "repair the package that installed it (conda install --force-reinstall) or --keep "
                               "what it needs")
            return []
        entry = self.old.get(rel)
        if entry is not None and entry[0] == st.st_size and entry[1] == st.st_mtime_ns:
            self.new[rel] = entry
            self.stats.files_cached += 1
            return _unpack(entry[2])
        if st.st_size > MAX_BYTES:
            return []
        started = time.perf_counter()
        try:
            raw = read_bytes(path, limit=MAX_BYTES)
        except OSError as exc:
            self.doubts.append(f"{path} cannot be read ({exc.strerror or exc}): what it imports is unknown; "
                               "repair the package that installed it (conda install --force-reinstall) or --keep "
                               "what it needs")
            return []
        text = raw.decode("utf-8", errors="replace")
        found = [
            _Import(u.name, u.line, u.subnames, u.deferred, u.optional)
            for u in installed_imports(text, rel)
        ]
        if rel.endswith((".pyx", ".pxi")):  # Cython's textual includes: read as part of this module
            found += [_Import(_INCLUDE + m.group(2), text.count("\n", 0, m.start()) + 1, (), False, False)
                      for m in _CYTHON_INCLUDE.finditer(text)]
        self.stats.files_read += 1
        self.stats.seconds["read and parse"] = self.stats.seconds.get("read and parse", 0.0) + (
            time.perf_counter() - started)
        self.new[rel] = [st.st_size, st.st_mtime_ns, _pack(found)]
        return found


# -- the walk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """How a module was reached: from ``parent`` (None: the application), at ``site``."""

    parent: str | None
    site: str  # "pandas/compat/pyarrow.py:12", or the application's "app/io.py:3"
    deferred: bool  # this step runs on demand (an import in a function)
    optional: bool  # guarded by except ImportError
    on_demand: bool  # the module is reached only on demand (this step or one before it)


def _shown(rel: str) -> str:
    """An installed file as people know it: relative to site-packages (or the prefix)."""
    for marker in ("/site-packages/", "Lib/site-packages/"):
        if marker in rel:
            return rel.split(marker, 1)[1]
    return rel


def _resolve(name: str, module: str, is_package: bool) -> str | None:
    """The absolute name of a (possibly relative) import written in ``module``."""
    if not name.startswith("."):
        return name
    level = len(name) - len(name.lstrip("."))
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        base = base.rpartition(".")[0]
    if not base:
        return None
    rest = name[level:]
    return f"{base}.{rest}" if rest else base


def _targets(index: ModuleIndex, name: str, subnames: Iterable[str]) -> list[str]:
    """The modules an import runs, outermost first: every package on the way, then the
    submodules ``from name import sub`` names (where they are modules)."""
    parts = name.split(".")
    found = [m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in index.files]
    found += [f"{name}.{s}" for s in subnames if f"{name}.{s}" in index.files]
    return found


def import_closure(
    env: EnvironmentData,
    scan: AppScan,
    graph: DependencyGraph,
    *,
    cache_dir: Path | None | object = _USE_CACHE,
    index: ModuleIndex | None = None,
) -> Closure:
    """Follow the application's imports through the environment's installed code.

    Starts at every import the scan found (``python -m`` included) and at the Python scripts of
    the environment's ``bin/`` that the application runs. ``cache_dir``: where the per-file
    cache lives (default: the user's cache folder); None to read every file afresh."""
    closure = Closure()
    stats = closure.stats
    directory = default_cache_dir() if cache_dir is _USE_CACHE else cache_dir
    cache_path = _cache_path(directory, env.prefix) if isinstance(directory, Path) else None
    started = time.perf_counter()
    old_files, results = _load_cache(cache_path)
    signature = _signature(env, scan)
    stats.seconds["cache load"] = time.perf_counter() - started
    kept = results.get(signature)
    if isinstance(kept, dict) and index is None:
        started = time.perf_counter()
        try:
            if _unchanged(env.prefix, kept["files"]):
                closure.needed = _evidence_of(kept["needed"])
                closure.on_demand = _evidence_of(kept["on_demand"])
                stats.modules = kept["modules"]
                stats.files_cached = len(kept["files"])
                stats.seconds["cache check"] = time.perf_counter() - started
                return closure
        except (KeyError, TypeError, ValueError):
            pass  # a result written by hand or half-understood: compute it again
    started = time.perf_counter()
    index = ModuleIndex.of(env) if index is None else index
    stats.seconds["index"] = time.perf_counter() - started
    reader = _Reader(env.prefix, old_files, stats)

    skip = {"conda:python"}  # the interpreter and its standard library always stay
    reached: dict[str, _Step] = {}
    now: deque[str] = deque()
    later: list[tuple[str, _Step]] = []  # on-demand steps, taken once everything at import time is reached

    def reach(module: str, step: _Step, queue: deque[str]) -> None:
        if module in reached or index.owners.get(module) in skip:
            return
        reached[module] = step
        queue.append(module)

    for use in scan.uses:
        if use.kind == MODULE:
            for module in _targets(index, use.name, use.subnames):
                reach(module, _Step(None, use.location, False, use.optional, False), now)
    scripts: dict[str, list[_Import]] = {}
    for use in scan.uses:
        if use.kind == EXECUTABLE and use.name in index.scripts and use.name not in scripts:
            path, key = index.scripts[use.name]
            found = reader.imports(path) if _is_python_script(env.prefix / path) else []
            scripts[use.name] = found
            for imp in found:
                if imp.name.startswith("."):
                    continue
                step = _Step(None, f"{path}:{imp.line} (run at {use.location})", imp.deferred, imp.optional,
                             imp.deferred)
                for module in _targets(index, imp.name, imp.subnames):
                    if imp.deferred:
                        later.append((module, step))
                    else:
                        reach(module, step, now)

    started = time.perf_counter()
    for on_demand in (False, True):
        if on_demand:
            for module, step in later:
                reach(module, _Step(step.parent, step.site, step.deferred, step.optional, True), now)
        while now:
            module = now.popleft()
            rel = index.files[module]
            mode = reached[module].on_demand
            for imp in reader.module_imports(rel, index.cython.get(module)):
                target = _resolve(imp.name, module, module in index.packages)
                if target is None:
                    continue
                if imp.deferred and mode:
                    continue  # a function of a module loaded on demand: two calls away, not followed
                step = _Step(module, f"{_shown(imp.source or rel)}:{imp.line}", imp.deferred, imp.optional,
                             mode or imp.deferred)
                for found in _targets(index, target, imp.subnames):
                    if step.on_demand and not mode:
                        later.append((found, step))
                    else:
                        reach(found, step, now)
    stats.seconds["walk"] = time.perf_counter() - started
    stats.modules = len(reached)
    closure.doubts = reader.doubts

    names = {key: node.name for key, node in graph.nodes.items()}
    for module, step in reached.items():
        key = index.owners.get(module)
        if step.parent is None or key is None or key not in graph.nodes:
            continue
        importer = index.owners.get(step.parent)
        if importer == key:
            continue
        chain = _chain(module, reached, index)
        who = names.get(importer or "", "a used package")
        if step.on_demand:
            evidence = Evidence(ON_DEMAND, f"{who} can load it on demand ({chain})")
            closure.on_demand.setdefault(key, []).append(evidence)
        else:
            when = " when present" if step.optional else ""
            closure.needed.setdefault(key, []).append(Evidence(IMPORT_TIME, f"{who} imports it{when} ({chain})"))
    for found in (closure.needed, closure.on_demand):
        for key in found:
            found[key] = found[key][:3]  # the first few ways in are enough to say why

    if cache_path is not None:
        started = time.perf_counter()
        merged = {rel: entry for rel, entry in reader.old.items()
                  if rel not in reader.new and _still_listed(rel, index)}
        merged.update(reader.new)
        if not closure.doubts:  # a result with a doubt is computed again next time (the file may be readable then)
            results = {k: v for k, v in results.items() if k != signature}
            results = dict(list(results.items())[-(_RESULTS_KEPT - 1):])
            results[signature] = {
                "files": [[rel, entry[0], entry[1]] for rel, entry in reader.new.items()],
                "needed": _evidence_json(closure.needed), "on_demand": _evidence_json(closure.on_demand),
                "modules": stats.modules,
            }
        _save_cache(cache_path, env.prefix, merged, results)
        stats.seconds["cache save"] = time.perf_counter() - started
    return closure


def _still_listed(rel: str, index: ModuleIndex) -> bool:
    module = module_of(rel)
    return (module is not None and index.files.get(module) == rel) or rel.startswith(("bin/", "Scripts/")) or (
        rel.endswith((".pyx", ".pxi")))


def _is_python_script(path: Path) -> bool:
    """Does the program start with a ``#!`` line that runs Python? Read through
    :mod:`conda_prune.safeio`: a FIFO or a device there is never opened, and counts as a script,
    so that the reader names it as a doubt (what it imports is unknown)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if stat.S_ISDIR(st.st_mode):
        return False
    try:
        fd = open_regular(path, limit=1 << 40)  # only the first line is read: the size is no concern
    except OSError:
        return True
    try:
        head = os.read(fd, 200)
    except OSError:
        return True
    finally:
        os.close(fd)
    return head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]


def _chain(module: str, reached: dict[str, _Step], index: ModuleIndex) -> str:
    """``pyarrow <- pandas/compat/pyarrow.py:12 <- pandas <- app/io.py:3``: the module, the site
    that imports it, then each place the chain enters another package or runs on demand, and
    what the application imported."""
    step = reached[module]
    parts = [module, step.site + (" (in a function)" if step.deferred else "")]
    current = step.parent
    while current is not None:
        here = reached[current]
        if here.parent is None:
            parts += [current, here.site]
            break
        if index.owners.get(here.parent) != index.owners.get(current) or here.deferred:
            parts += [current, here.site + (" (in a function)" if here.deferred else "")]
        current = here.parent
        if len(parts) > 40:  # a chain through many packages: its ends say enough
            parts.append("...")
            break
    return " <- ".join(parts)


def closure_expander(
    env: EnvironmentData, scan: AppScan, graph: DependencyGraph, **kwargs: Any
) -> tuple[Callable[[frozenset[str]], Loads], Callable[[], Closure | None]]:
    """An expander for :func:`~conda_prune.env_prune.plan.plan_env_prune` that runs the closure
    once (what the application imports does not depend on what else is needed), and a getter
    for the closure it computed (None before the plan asked)."""
    done: list[Closure] = []

    def expand(needed: frozenset[str]) -> Loads:
        if not done:
            done.append(import_closure(env, scan, graph, **kwargs))
        return done[0].loads()

    return expand, (lambda: done[0] if done else None)
