"""Why is a package in an environment?

The answer starts from what the user asked for, the *roots*: the specs in the environment's
history, its pinned specs, and the pip distributions installed on request (``REQUESTED`` in
their dist-info). Where the history names no specs (an environment made by another tool), or
only the specs of a lockfile install (every package requested, each pinned to its build), the
packages nothing depends on stand in for them, and the report says so. A file the user names
(``--requested-from environment.yml``), or one found beside the ``--app`` folders when the
history has no real requests, gives the roots instead (:mod:`conda_prune.requested_files`).

For each installed package that matches a name or a glob we then collect:

* the dependency paths from the roots down to it, shortest first, each link labelled with the
  spec that creates it (conda ``depends`` and pip ``Requires-Dist`` in one graph);
* the packages that would break without it, and the ``constrains`` that bear on it;
* the bytes it holds on disk alone, and the bytes it shares through hardlinks;
* with ``--app``: the import sites in the application that load a module it provides, where
  modules are mapped to packages through the files each package installed, never by name;
* with ``--all-envs``: every environment that has it, and the package-cache entry each uses.

Everything here only reads. Nothing is written into the environment, and broken input becomes a
:class:`~conda_prune.records.Problem` rather than an exception.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .environment import DiskUsage, disk_usage, files_of, match_packages, module_providers, name_matches, near_names
from .graph import CONSTRAINS, DependencyGraph, Edge, Node
from .history import read_requested_specs
from .appscan.walk import MAX_BYTES
from .records import CondaRecord, EnvironmentData, Problem, normalize_pip_name, read_environment
from .requested_files import RequestedFile, find_requested_file
from .safeio import read_bytes
from .specs import spec_name

#: Dependency paths shown per package unless every path is asked for.
SHOWN_PATHS = 8
#: The most paths ``--all-paths`` lists; past it the report says it stopped.
ALL_PATHS_CAP = 10_000

REQUESTED = "requested"  # a spec in conda-meta/history
PINNED = "pinned"  # a spec in conda-meta/pinned
PIP_REQUESTED = "pip-requested"  # a pip distribution with REQUESTED
FROM_FILE = "file"  # a spec in the file named by --requested-from (or found beside --app)
LEAF = "leaf"  # no history: nothing depends on it
CYCLE = "cycle"  # no history: nothing outside its dependency cycle depends on it


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """An installed package: a conda record or a pip-installed distribution."""

    key: str
    name: str
    version: str
    build: str
    channel: str
    kind: str  # "conda" or "pypi"

    @classmethod
    def of(cls, node: Node) -> Package:
        return cls(node.key, node.name, node.version, node.build, node.channel, node.kind)


@dataclass(frozen=True)
class Root:
    """Something the user asked for, and how we know."""

    key: str
    name: str
    reason: str  # REQUESTED, PINNED, PIP_REQUESTED, FROM_FILE, LEAF or CYCLE
    spec: str = ""
    origin: str = ""  # FROM_FILE: the file's name

    @property
    def description(self) -> str:
        return {
            REQUESTED: f"requested: {self.spec}",
            PINNED: f"pinned: {self.spec}",
            PIP_REQUESTED: "pip, requested",
            FROM_FILE: f"{self.origin}: {self.spec}",
            LEAF: "nothing depends on it",
            CYCLE: "nothing outside its cycle depends on it",
        }[self.reason]

    @property
    def asked(self) -> bool:
        """Did the user ask for it (rather than nothing depending on it)?"""
        return self.reason in ASKED


ASKED = (REQUESTED, PINNED, PIP_REQUESTED, FROM_FILE)

_LOCKFILE = "installed from a lockfile (every package requested and pinned)"


@dataclass(frozen=True)
class RootSet:
    """The roots of an environment, and where they came from.

    ``from_history``: the history's own requests are the roots. Otherwise the roots are the
    specs of ``file`` when one was used, else the packages nothing depends on (``lockfile``
    says whether that is because the history records a lockfile install)."""

    roots: tuple[Root, ...]
    from_history: bool  # False: history had no real requests; a file or the leaves stand in
    file: str = ""  # the file the roots were read from
    file_how: str = ""  # how its specs were found ("the specs of environment.yml, its sources")
    found_beside: str = ""  # the --app path the file was found beside
    lockfile: bool = False  # the history records a lockfile install
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def source(self) -> str:
        """``history``, ``file`` or ``leaves``."""
        return "file" if self.file else "history" if self.from_history else "leaves"

    @property
    def roots_from(self) -> str:
        """``history``, ``leaves`` or the path of the file."""
        return self.file or self.source

    @property
    def asked(self) -> bool:
        """Are the roots what the user asked for (not the packages nothing depends on)?"""
        return self.source != "leaves"

    @property
    def later_requests(self) -> tuple[str, ...]:
        """With a lockfile install, what the history requested besides it."""
        return tuple(sorted({r.name for r in self.roots if r.reason == REQUESTED})) if self.lockfile else ()

    @property
    def keys(self) -> set[str]:
        return {r.key for r in self.roots}

    def of(self, key: str) -> tuple[Root, ...]:
        return tuple(r for r in self.roots if r.key == key)

    @property
    def note(self) -> str:
        if self.file:
            how = f" ({self.file_how})" if self.file_how else ""
            if self.found_beside:
                why = _LOCKFILE if self.lockfile else "conda-meta/history names no requested specs"
                return f"{why}, so {self.file}{how}, found beside --app {self.found_beside}, tells what was asked for"
            return f"what was asked for is read from {self.file}{how}, named by --requested-from"
        if self.from_history:
            return ""
        if self.lockfile:
            later = self.later_requests
            also = f"; {', '.join(later)} {'was' if len(later) == 1 else 'were'} requested later" if later else ""
            return (
                f"{_LOCKFILE}: the packages nothing depends on stand in for what you asked for{also}; "
                "name the file with --requested-from FILE"
            )
        return (
            "conda-meta/history names no requested specs (an install from a lockfile, or an "
            "environment made by another tool), so the packages nothing depends on are taken "
            "as what was asked for"
        )


@dataclass(frozen=True)
class Link:
    """One edge of a dependency path: ``parent`` needs ``child`` through ``spec``."""

    parent: str
    parent_version: str
    parent_kind: str
    child: str
    child_version: str
    spec: str
    kind: str  # graph.DEPENDS, REQUIRES_DIST, INJECTED or CONSTRAINS

    @classmethod
    def of(cls, edge: Edge, graph: DependencyGraph) -> Link:
        parent, child = graph.nodes[edge.parent], graph.nodes[edge.child]
        return cls(parent.name, parent.version, parent.kind, child.name, child.version, edge.spec, edge.kind)


@dataclass(frozen=True)
class DependencyPath:
    """A chain from a root down to the package; empty ``links`` when the root is the package."""

    root: Root
    links: tuple[Link, ...]




@dataclass(frozen=True)
class ImportSite:
    """One import statement of the application."""

    path: str
    line: int
    statement: str  # "import numpy.linalg" / "from numpy import linalg"
    modules: tuple[str, ...]  # the dotted names it may load, most specific first
    cell: int | None = None  # the notebook cell (1-based) for .ipynb files

    @property
    def location(self) -> str:
        if self.cell is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}[cell {self.cell}]:{self.line}"


@dataclass(frozen=True)
class EnvironmentUse:
    """Another (or the same) environment that has the package."""

    prefix: str
    version: str
    build: str
    kind: str
    cache_entry: str | None  # the real path of the package-cache folder it was linked from


@dataclass(frozen=True)
class Explanation:
    """Everything ``why-used`` says about one installed package."""

    package: Package
    requested_as: tuple[Root, ...]
    disk: DiskUsage
    paths: tuple[DependencyPath, ...]
    path_count: int | None  # every path from every root; None when a cycle makes it uncountable
    paths_complete: bool
    roots_reaching: tuple[str, ...]
    required_by: tuple[Link, ...]
    would_break: tuple[str, ...]
    constrained_by: tuple[Link, ...]
    import_sites: tuple[ImportSite, ...] | None = None  # None: no --app given
    environments: tuple[EnvironmentUse, ...] | None = None  # None: no --all-envs

    @property
    def requested(self) -> bool:
        return any(r.asked for r in self.requested_as)

    def shared_cache_entries(self) -> dict[str, tuple[str, ...]]:
        """Cache entries used by more than one environment, with the environments using them."""
        by_entry: dict[str, list[str]] = {}
        for use in self.environments or ():
            if use.cache_entry:
                by_entry.setdefault(use.cache_entry, []).append(use.prefix)
        return {entry: tuple(sorted(p)) for entry, p in sorted(by_entry.items()) if len(p) > 1}


@dataclass(frozen=True)
class NotFound:
    pattern: str
    suggestions: tuple[str, ...]
    elsewhere: tuple[EnvironmentUse, ...] = ()  # with --all-envs: environments that have it


@dataclass(frozen=True)
class WhyUsedReport:
    prefix: Path
    roots: RootSet
    explanations: tuple[Explanation, ...]
    not_found: tuple[NotFound, ...]
    problems: tuple[Problem, ...]
    apps: tuple[str, ...] = ()
    all_paths: bool = False
    graph: DependencyGraph | None = field(default=None, compare=False, repr=False)


# -- roots ----------------------------------------------------------------------------------


def find_roots(
    prefix: Path,
    env: EnvironmentData,
    graph: DependencyGraph,
    *,
    requested_file: RequestedFile | None = None,
    apps: Sequence[Path] = (),
) -> RootSet:
    """What the user asked for: history specs, pinned specs and requested pip distributions.

    A lockfile install's specs are not requests (:mod:`conda_prune.history`). Where the
    history has no real requests, a file beside the ``--app`` paths that names them is used;
    ``requested_file`` (``--requested-from``) is used whatever the history says. Without either,
    the packages nothing depends on stand in, besides the real requests there are."""
    conda_names = {r.name for r in env.records}
    requested = read_requested_specs(prefix, conda_names)
    problems = list(requested.problems)
    asked = [Root(f"conda:{n}", n, REQUESTED, s) for n, s in sorted(requested.specs.items())]
    asked += [Root(f"conda:{n}", n, PINNED, s) for n, s in sorted(requested.pinned.items())]
    asked += [
        Root(f"pypi:{d.normalized_name}", d.name, PIP_REQUESTED)
        for d in sorted(env.pip, key=lambda d: d.normalized_name)
        if d.requested and d.is_pip_installed
    ]
    if requested_file is None and not requested.specs and apps:
        requested_file, skipped = find_requested_file(apps)
        problems += skipped
    if requested_file is not None:
        from_file, unmatched = _file_roots(requested_file, graph, env)
        if not from_file:
            problems.append(Problem(
                requested_file.path, "names no installed package; it was not used to tell what was asked for"
            ))
        elif unmatched:
            problems.append(Problem(
                requested_file.path,
                f"names {len(unmatched)} spec{'s' if len(unmatched) != 1 else ''} that match no installed package "
                f"({', '.join(unmatched[:5])}{', ...' if len(unmatched) > 5 else ''}); the others were used",
            ))
        if from_file:
            return RootSet(
                tuple(from_file + asked), from_history=False, file=str(requested_file.path),
                file_how=requested_file.how, found_beside=requested_file.found_beside,
                lockfile=requested.lockfile, problems=tuple(problems),
            )
    if requested.specs and not requested.lockfile:
        return RootSet(tuple(asked), from_history=True, problems=tuple(problems))
    roots = list(asked)
    roots += [Root(k, graph.nodes[k].name, LEAF) for k in graph.leaves()]
    roots += [Root(k, graph.nodes[k].name, CYCLE) for k in _cycle_heads(graph, {r.key for r in roots})]
    return RootSet(tuple(roots), from_history=False, lockfile=requested.lockfile, problems=tuple(problems))


_PIP_NAME_END = re.compile(r"[\s\[<>=!~;@(]")


def _file_roots(file: RequestedFile, graph: DependencyGraph, env: EnvironmentData) -> tuple[list[Root], list[str]]:
    """The installed packages the file's specs name, and the specs that name none. A conda spec
    finds a conda package first, a pip requirement a pip-installed distribution first; either
    falls back to the other kind, and a pip name to the conda package that installed a Python
    distribution of that name (a pyproject.toml's ``torch`` is conda's ``pytorch``)."""
    origin = file.path.name
    record_names = {r.dist: r.name for r in env.records}
    carried = {
        d.normalized_name: f"conda:{record_names[d.conda_owner]}"
        for d in env.pip
        if d.conda_owner is not None and d.conda_owner in record_names
    }
    roots: list[Root] = []
    unmatched: list[str] = []
    for spec, pip in [(s, False) for s in file.conda] + [(s, True) for s in file.pip]:
        name = _PIP_NAME_END.split(spec.strip(), 1)[0] if pip else spec_name(spec)
        keys = [f"pypi:{normalize_pip_name(name)}", f"conda:{name.lower()}"]
        if not pip:
            keys.reverse()
        key = next((k for k in keys if k in graph.nodes), None)
        if key is None:
            key = next((n.key for n in graph.find(name)), None) or carried.get(normalize_pip_name(name))
        if key is None:
            unmatched.append(spec)
            continue
        roots.append(Root(key, graph.nodes[key].name, FROM_FILE, spec, origin))
    return roots, unmatched


def _cycle_heads(graph: DependencyGraph, roots: set[str]) -> list[str]:
    """One member of each dependency cycle that nothing outside it depends on (such cycles have
    no leaf above them, so without this their members would hang from no root)."""
    covered = graph.closure(roots)
    heads = []
    for key in sorted(graph.nodes):
        if key in covered:
            continue
        below = graph.closure([key])
        if graph.dependents(key) <= below:
            heads.append(key)
            covered |= below
    return heads


# -- matching names ---------------------------------------------------------------------------




# -- disk -------------------------------------------------------------------------------------




# -- import sites -------------------------------------------------------------------------------



_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages"}




def providers_of(site: ImportSite, providers: dict[str, set[str]]) -> set[str]:
    """The packages an import statement loads from: for each name it may load, the packages
    providing the longest dotted prefix of it that any package provides."""
    found: set[str] = set()
    for module in site.modules:
        parts = module.split(".")
        for i in range(len(parts), 0, -1):
            owners = providers.get(".".join(parts[:i]))
            if owners:
                found |= owners
                break
    return found


def _imports_in(tree: ast.AST) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """Absolute imports anywhere in a module, function-local ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, f"import {alias.name}", (alias.name,)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [a.name for a in node.names if a.name != "*"]
            statement = f"from {node.module} import {', '.join(a.name for a in node.names)}"
            yield node.lineno, statement, (*(f"{node.module}.{n}" for n in names), node.module)


def _notebook_cells(text: str) -> Iterator[tuple[int, str]]:
    """Code cells of a notebook, with IPython magics and shell escapes blanked out (line
    numbers stay those of the cell)."""
    data = json.loads(text)
    for number, cell in enumerate(data.get("cells", ()) if isinstance(data, dict) else (), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if source.lstrip().startswith("%%"):
            continue  # a cell magic: the body is not Python
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        yield number, "\n".join(lines)


def _app_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if not path.is_dir():
            yield path  # a file (or a FIFO, a device: the reader names it)
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for name in sorted(files):
                if name.endswith((".py", ".ipynb")):
                    yield Path(folder) / name


def find_import_sites(paths: Sequence[Path]) -> tuple[list[ImportSite], list[Problem]]:
    """Import statements in the Python files and notebooks at ``paths`` (files or folders).

    Relative imports are left out: they load the application's own modules."""
    sites: list[ImportSite] = []
    problems: list[Problem] = []
    for file in _app_files(paths):
        shown = os.path.normpath(file)
        try:
            raw = read_bytes(file, limit=MAX_BYTES)  # a regular file, bounded: a FIFO never hangs this
        except OSError as exc:
            problems.append(Problem(file, f"cannot be read ({exc.strerror}); its imports were not read"))
            continue
        if file.suffix == ".ipynb":
            try:
                cells = list(_notebook_cells(raw.decode("utf-8", errors="replace")))
            except (ValueError, RecursionError, MemoryError):
                problems.append(Problem(file, "is not a valid notebook (JSON, or nested too deep); its imports were not read"))
                continue
            for cell, source in cells:
                try:
                    tree = ast.parse(source)
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    continue  # a cell that is not plain Python; the other cells still count
                for line, statement, modules in _imports_in(tree):
                    sites.append(ImportSite(shown, line, statement, modules, cell))
            continue
        try:
            tree = ast.parse(raw, filename=shown)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            if isinstance(exc, (RecursionError, MemoryError)):
                where = " (nested too deep to parse)"
            problems.append(Problem(file, f"is not valid Python{where}; its imports were not read"))
            continue
        for line, statement, modules in _imports_in(tree):
            sites.append(ImportSite(shown, line, statement, modules))
    sites.sort(key=lambda s: (s.path, s.cell or 0, s.line, s.statement))
    return sites, problems


# -- other environments -------------------------------------------------------------------------


def _cache_entry(record: CondaRecord) -> str | None:
    sources = record.cache_sources
    return os.path.realpath(sources[0]) if sources else None


def environment_uses(
    prefixes: Iterable[Path], keys: set[str], patterns: Sequence[str] = ()
) -> tuple[dict[str, list[EnvironmentUse]], dict[str, set[str]], list[Problem]]:
    """Which of ``prefixes`` have the packages ``keys``, reading each environment once.

    Also answers, for ``patterns`` that matched nothing in the target environment, which
    packages they match elsewhere (their keys, whose uses are included)."""
    uses: dict[str, list[EnvironmentUse]] = {k: [] for k in keys}
    elsewhere: dict[str, set[str]] = {p: set() for p in patterns}
    problems: list[Problem] = []
    for prefix in prefixes:
        env = read_environment(prefix)
        problems += env.problems
        found = [
            (f"conda:{r.name}", r.name, EnvironmentUse(str(prefix), r.version, r.build, "conda", _cache_entry(r)))
            for r in env.records
        ] + [
            (f"pypi:{d.normalized_name}", d.name, EnvironmentUse(str(prefix), d.version, "pypi_0", "pypi", None))
            for d in env.pip
            if d.is_pip_installed
        ]
        for key, name, use in found:
            for pattern in patterns:
                if name_matches(pattern, name):
                    elsewhere[pattern].add(key)
                    uses.setdefault(key, [])
            if key in uses:
                uses[key].append(use)
    return uses, elsewhere, problems


# -- the explanation ----------------------------------------------------------------------------


def explain_package(
    graph: DependencyGraph, key: str, roots: RootSet, prefix: Path, *, all_paths: bool = False
) -> Explanation:
    """Why one package is here: its paths from the roots, who needs it, what constrains it."""
    node = graph.nodes[key]
    root_keys = roots.keys
    root_by_key = {r.key: r for r in reversed(roots.roots)}  # the first reason wins

    def path_of(chain: list[Edge]) -> DependencyPath:
        start = chain[0].parent if chain else key
        return DependencyPath(root_by_key[start], tuple(Link.of(e, graph) for e in chain))

    count = graph.count_paths(key, root_keys)
    if all_paths:
        chains = list(graph.paths(key, root_keys, limit=ALL_PATHS_CAP))
        complete = len(chains) < ALL_PATHS_CAP or count == len(chains)
    else:
        per_root = graph.shortest_paths(key, root_keys)
        chains = sorted(per_root.values(), key=lambda c: (len(c), c[0].parent if c else key))
        complete = count == len(chains) and len(chains) <= SHOWN_PATHS
        chains = chains[:SHOWN_PATHS]
    above = graph.dependents(key)
    reaching = sorted(graph.nodes[k].name for k in (above | {key}) & root_keys)
    return Explanation(
        package=Package.of(node),
        requested_as=roots.of(key),
        disk=disk_usage(prefix, files_of(node)),
        paths=tuple(path_of(c) for c in chains),
        path_count=count,
        paths_complete=complete,
        roots_reaching=tuple(reaching),
        required_by=tuple(
            sorted((Link.of(e, graph) for e in graph.parents.get(key, ())), key=lambda link: (link.parent, link.spec))
        ),
        would_break=tuple(sorted(graph.nodes[k].name for k in above)),
        constrained_by=tuple(
            sorted((Link.of(e, graph) for e in graph.constrains if e.child == key and e.kind == CONSTRAINS),
                   key=lambda link: (link.parent, link.spec))
        ),
    )


def why_used(
    prefix: Path,
    patterns: Sequence[str],
    *,
    apps: Sequence[Path] = (),
    other_environments: Sequence[Path] | None = None,
    all_paths: bool = False,
    requested_file: RequestedFile | None = None,
) -> WhyUsedReport:
    """The whole report for ``conda why-used PATTERN... -p PREFIX``.

    ``other_environments``: with ``--all-envs``, the prefixes of every known environment.
    ``requested_file``: ``--requested-from``, read already."""
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    roots = find_roots(prefix, env, graph, requested_file=requested_file, apps=apps)
    problems = list(env.problems) + list(roots.problems)

    matched: dict[str, Node] = {}
    not_found: list[tuple[str, tuple[str, ...]]] = []
    names = [n.name for n in graph.nodes.values()]
    for pattern in patterns:
        nodes = match_packages(graph, pattern)
        if not nodes:
            not_found.append((pattern, near_names(pattern, names)))
        for node in nodes:
            matched.setdefault(node.key, node)

    explanations = [
        explain_package(graph, key, roots, prefix, all_paths=all_paths) for key in sorted(matched)
    ]

    if apps:
        sites, app_problems = find_import_sites(apps)
        problems += app_problems
        providers = module_providers(env)
        explanations = [
            _with(e, import_sites=tuple(s for s in sites if e.package.key in providers_of(s, providers)))
            for e in explanations
        ]

    missing = [NotFound(p, s) for p, s in not_found]
    if other_environments is not None:
        others = _unique_prefixes([prefix, *other_environments])
        uses, elsewhere, env_problems = environment_uses(others, set(matched), [p for p, _ in not_found])
        problems += [p for p in env_problems if p not in problems]
        explanations = [_with(e, environments=_sorted_uses(uses[e.package.key])) for e in explanations]
        missing = [
            NotFound(m.pattern, m.suggestions, _sorted_uses(u for k in elsewhere[m.pattern] for u in uses[k]))
            for m in missing
        ]

    return WhyUsedReport(
        prefix=prefix,
        roots=roots,
        explanations=tuple(explanations),
        not_found=tuple(missing),
        problems=tuple(problems),
        apps=tuple(os.path.normpath(a) for a in apps),
        all_paths=all_paths,
        graph=graph,
    )


def _with(explanation: Explanation, **changes: object) -> Explanation:
    return replace(explanation, **changes)  # type: ignore[arg-type]


def _sorted_uses(uses: Iterable[EnvironmentUse]) -> tuple[EnvironmentUse, ...]:
    return tuple(sorted(uses, key=lambda u: (u.prefix, u.kind, u.version, u.build)))


def _unique_prefixes(prefixes: Iterable[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for prefix in prefixes:
        seen.setdefault(os.path.realpath(prefix), Path(prefix))
    return list(seen.values())


__all__ = [
    "ALL_PATHS_CAP",
    "SHOWN_PATHS",
    "DependencyPath",
    "DiskUsage",
    "ASKED",
    "FROM_FILE",
    "EnvironmentUse",
    "Explanation",
    "ImportSite",
    "Link",
    "NotFound",
    "Package",
    "Root",
    "RootSet",
    "WhyUsedReport",
    "explain_package",
    "find_import_sites",
    "find_roots",
    "providers_of",
    "why_used",
]
