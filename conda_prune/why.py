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

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .environment import (
    DiskUsage,
    disk_usage,
    files_of,
    match_packages,
    module_providers,
    name_matches,
    near_names,
)
from .graph import CONSTRAINS, DependencyGraph, Edge, Node

if TYPE_CHECKING:
    from .appscan import AppScan
from .records import CondaRecord, Problem, read_environment
from .requested_files import RequestedFile
from .roots import Root, RootSet, find_roots

#: Dependency paths shown per package unless every path is asked for.
SHOWN_PATHS = 8
#: The most paths ``--all-paths`` lists; past it the report says it stopped.
ALL_PATHS_CAP = 10_000



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
    #: with --app: what the import closure found (:mod:`conda_prune.env_prune.closure`), the same
    #: chains ``prune --app`` decides by: loaded at import time ("pandas imports it when present
    #: (pyarrow <- pandas/compat/pyarrow.py:12 <- pandas <- app/io.py:3)"), or only on demand
    loaded_by: tuple[str, ...] | None = None
    on_demand: tuple[str, ...] | None = None
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




# -- matching names ---------------------------------------------------------------------------




# -- disk -------------------------------------------------------------------------------------




# -- import sites -------------------------------------------------------------------------------







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


def find_import_sites(paths: Sequence[Path], scan: AppScan | None = None) -> tuple[list[ImportSite], list[Problem]]:
    """Import statements in the application at ``paths`` (files or folders), read by the same
    scanner as ``conda prune --app`` (:func:`conda_prune.appscan.scan_app`): Python files,
    notebooks (magics included), function-local imports and ``import_module`` of a literal name.
    Relative imports are left out: they load the application's own modules. ``scan``: that
    scan, done already."""
    from .appscan import MODULE, TYPING, scan_app

    if scan is None:
        scan = scan_app(paths, check_syntax=True)
    sites: list[ImportSite] = []
    for use in scan.uses:
        if use.kind not in (MODULE, TYPING):
            continue
        path, cell = use.path, None
        if "[cell " in path and path.endswith("]"):
            path, _, number = path[:-1].partition("[cell ")
            cell = int(number) if number.isdigit() else None
        modules = (*(f"{use.name}.{n}" for n in use.subnames), use.name)
        sites.append(ImportSite(os.path.normpath(path), use.line, use.describe(), modules, cell))
    sites.sort(key=lambda s: (s.path, s.cell or 0, s.line, s.statement))
    problems = [Problem(Path(p.path), p.message) for p in scan.problems]
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
    problems = list(env.problems) + list(roots.problems) + list(roots.doubts)

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
        from .appscan import scan_app
        from .env_prune.closure import import_closure

        scan = scan_app(apps, check_syntax="later")  # the parse runs while the imports are followed
        providers = module_providers(env)
        closure = import_closure(env, scan, graph)
        scan.finish_syntax()
        sites, app_problems = find_import_sites(apps, scan)
        problems += app_problems
        problems += [Problem(prefix, d) for d in closure.doubts]
        explanations = [
            _with(e, import_sites=tuple(s for s in sites if e.package.key in providers_of(s, providers)),
                  loaded_by=tuple(str(x) for x in closure.needed.get(e.package.key, ())),
                  on_demand=tuple(str(x) for x in closure.on_demand.get(e.package.key, ())))
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
    "EnvironmentUse",
    "Explanation",
    "ImportSite",
    "Link",
    "NotFound",
    "Package",
    "WhyUsedReport",
    "explain_package",
    "find_import_sites",
    "providers_of",
    "why_used",
]
