"""Which packages of an environment an application needs, and why; everything else is unused.

The decision for one package is made in :func:`plan_env_prune`, in this order:

1. **Evidence.** Each use the application scan found (:mod:`conda_prune.appscan`) is mapped to
   the packages that provide it, from the environment's own files, never from names: a module
   to the packages whose files hold it (``tables`` -> pytables, ``skimage`` -> scikit-image, a
   namespace package such as ``google.cloud`` to every package with a part of it, the longest
   dotted prefix deciding), a program to the package owning ``bin/<name>``, an R package to the
   one owning ``lib/R/library/<name>``, a notebook kernel to the one owning
   ``share/jupyter/kernels/<name>``, a quoted module name (``"rest_framework"``) like an import.
2. **Always kept**: python and everything it needs; conda and its dependencies in the base
   environment (and in the environment running this command); ``--keep`` and the keep-list
   (``prune_keep`` in ``.condarc``); variant mutexes (``_openmp_mutex``); editable pip installs.
3. **Needed**: the closure of 1 and 2 over conda ``depends`` and pip ``Requires-Dist``
   (:class:`~conda_prune.graph.DependencyGraph`), then the plugins the needed packages load by
   name (entry points such as ``pytest11``, Jupyter server and lab extensions), to a fixed point.
4. Whatever stays anyway (a pip-installed package conda cannot remove) keeps what it needs.
5. Everything else is **unused**: "no import, no executable use, not needed by any used
   package". An unused package that a needed one may load on demand (named in its
   ``constrains`` or in an extra of its ``Requires-Dist``) carries a caution.

Doubt stops removal: files of the application or records of the environment that could not be
read, or an application in which nothing was found to read.

What the user asked for (:func:`conda_prune.why.find_roots`: the history's real requests, or the
file named by ``--requested-from``, or the packages nothing depends on after a lockfile install)
decides nothing here; it is reported beside each verdict, and ``--export`` keeps the user's own
spec for a package whose request came from a file.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .appscan import (
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
from .graph import INJECTED, REQUIRES_DIST, DependencyGraph, marker_environment
from .records import EnvironmentData, PipDistribution, normalize_pip_name
from .environment import (
    Freed, Providers, distribution_names, environment_providers, library_name, module_owners, name_matches, owner_key,
)
from .why import FROM_FILE, RootSet

# verdicts (stable: they appear in --json)
USED = "used"  # direct evidence in the application
NEEDED = "needed"  # a dependency of something used or kept
KEPT = "kept"  # an always-keep rule
UNUSED = "unused"

UNUSED_REASON = "no import, no executable use, not needed by any used package"

#: top-level names that badly packaged distributions ship and that code writes as plain words
#: ("data", "tests"): a quoted string equal to one is no evidence
_COMMON_WORDS = frozenset({
    "test", "tests", "testing", "doc", "docs", "example", "examples", "benchmark", "benchmarks", "script",
    "scripts", "data", "build", "setup", "conftest", "util", "utils", "common", "src", "lib", "bin", "tools",
    "main", "app", "config", "settings", "core", "api", "version", "_version", "demo", "samples", "tmp",
})
#: entry-point groups loaded by a package whose name the group does not start with
_KNOWN_CONSUMERS = {
    "pytest11": "pytest",
    "console_scripts": "",
    "gui_scripts": "",
    "egg_info.writers": "setuptools",
    "distutils.commands": "setuptools",
    "distutils.setup_keywords": "setuptools",
    "jupyter_client.kernel_provisioners": "jupyter_client",
}
#: folders whose files a package reads to find its plugins: folder -> the module that reads it


_PYTHON_EXECUTABLE = re.compile(r"^(?:python|pythonw)(?:\d+(?:\.\d+)?t?)?$")


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Why a package counts as used: what the application does, and where."""

    kind: str  # a use kind (MODULE, EXECUTABLE...), or "plugin"
    detail: str  # "import pandas", "runs black (Makefile)", "pytest loads it (entry point pytest11)"
    location: str = ""  # "app/x.py:3"; empty for a plugin

    def __str__(self) -> str:
        return f"{self.detail} at {self.location}" if self.location else self.detail


@dataclass(frozen=True)
class Verdict:
    key: str  # the dependency graph's key: "conda:numpy" or "pypi:requests"
    name: str
    version: str
    build: str
    kind: str  # "conda" or "pypi"
    status: str  # USED, NEEDED, KEPT or UNUSED
    reason: str
    evidence: tuple[Evidence, ...] = ()
    needed_by: tuple[str, ...] = ()  # a chain of names from a used or kept package down to this one
    cautions: tuple[str, ...] = ()
    removable: bool = False  # unused, and conda can remove it (not installed with pip)
    optional_only: bool = False  # used only through imports guarded by ``except ImportError``
    asked_for: str = ""  # how the user asked for it ("requested: pandas", "environment.yml: pandas>=2")

    @property
    def stays(self) -> bool:
        return self.status != UNUSED


@dataclass(frozen=True)
class MissingModule:
    """A module the application imports that nothing installed provides."""

    module: str
    sites: tuple[str, ...]
    optional: bool  # every site is guarded by ``except ImportError``


@dataclass(frozen=True)
class Unsatisfied:
    package: str
    requirement: str  # the spec as the package writes it
    before: bool = False  # it was already unsatisfied before anything was removed

    def __str__(self) -> str:
        return f"{self.package} requires {self.requirement!r}, which is not installed" + (
            " (already so before)" if self.before else ""
        )


@dataclass
class EnvPrunePlan:
    prefix: Path
    apps: tuple[str, ...]
    verdicts: list[Verdict]
    missing: list[MissingModule] = field(default_factory=list)
    dynamic: list[Use] = field(default_factory=list)  # import_module(<expression>) sites
    typing_only: list[Use] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # shown, removal may go ahead
    unparsed: tuple[ScanProblem, ...] = ()  # app files that do not parse (read line by line instead)
    doubts: list[str] = field(default_factory=list)  # each forbids removal
    frozen: bool = False
    files_scanned: int = 0
    files_cached: int = 0
    skipped_environments: tuple[str, ...] = ()
    roots: RootSet | None = None  # what the user asked for
    graph: DependencyGraph | None = field(default=None, compare=False, repr=False)

    def with_status(self, status: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == status]

    @property
    def unused(self) -> list[Verdict]:
        return self.with_status(UNUSED)

    @property
    def removable(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.removable]

    def verdict(self, name: str) -> Verdict | None:
        return next((v for v in self.verdicts if name_matches(name, v.name)), None)


# -- what the environment provides ----------------------------------------------------------------




# -- evidence -------------------------------------------------------------------------------------


@dataclass
class _Evidence:
    by_key: dict[str, list[Evidence]] = field(default_factory=dict)
    optional: dict[str, bool] = field(default_factory=dict)  # key -> every use of it optional

    def add(self, keys: Iterable[str], evidence: Evidence, optional: bool = False) -> None:
        for key in keys:
            self.by_key.setdefault(key, []).append(evidence)
            self.optional[key] = self.optional.get(key, True) and optional


def _kernel_argv(prefix: Path, kernel_json: str) -> list[str]:
    try:
        data = json.loads((prefix / kernel_json).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    argv = data.get("argv") if isinstance(data, dict) else None
    return [a for a in argv if isinstance(a, str)] if isinstance(argv, list) else []


def _collect_evidence(
    env: EnvironmentData, scan: AppScan, providers: Providers, graph: DependencyGraph
) -> tuple[_Evidence, list[MissingModule], list[Use], list[Use]]:
    evidence = _Evidence()
    missing: dict[str, list[Use]] = {}
    dynamic: list[Use] = []
    typing_only: list[Use] = []
    conda_names = {node.name: key for key, node in graph.nodes.items() if node.kind == "conda"}

    def module_use(use: Use) -> None:
        owners = module_owners(providers.modules, use.name, use.subnames) & graph.nodes.keys()
        if owners:
            evidence.add(owners, Evidence(MODULE, use.describe(), use.location), use.optional)
            return
        top = use.name.split(".")[0]
        if top in providers.stdlib or top in scan.first_party:
            return
        missing.setdefault(top, []).append(use)

    for use in scan.uses:
        if use.kind == MODULE:
            module_use(use)
        elif use.kind == TYPING:
            typing_only.append(use)
        elif use.kind == DYNAMIC:
            dynamic.append(use)
        elif use.kind == EXECUTABLE:
            owners = providers.executables.get(use.name, set())
            if not owners and _PYTHON_EXECUTABLE.match(use.name) and "conda:python" in graph.nodes:
                owners = {"conda:python"}
            evidence.add(owners & graph.nodes.keys(), Evidence(EXECUTABLE, use.describe(), use.location), use.optional)
        elif use.kind == R_PACKAGE:
            owners = providers.r_packages.get(use.name, set())
            if not owners:
                lower = {k.lower(): v for k, v in providers.r_packages.items()}
                owners = lower.get(use.name.lower(), set())
            if not owners:
                guess = f"r-{use.name.lower()}"
                owners = {conda_names[guess]} if guess in conda_names else set()
            evidence.add(owners & graph.nodes.keys(), Evidence(R_PACKAGE, use.describe(), use.location), use.optional)
        elif use.kind == KERNEL:
            owners, kernel_json = providers.kernels.get(use.name, (set(), ""))
            evidence.add(owners & graph.nodes.keys(), Evidence(KERNEL, use.describe(), use.location))
            if kernel_json:
                argv = _kernel_argv(env.prefix, kernel_json)
                from .appscan.shell import argv_uses

                for kernel_use in argv_uses(argv, use.path, use.line, f"kernel {use.name}"):
                    if kernel_use.kind == MODULE:
                        module_use(kernel_use)
                    elif kernel_use.kind == EXECUTABLE:
                        exe = providers.executables.get(kernel_use.name, set())
                        evidence.add(exe & graph.nodes.keys(),
                                     Evidence(EXECUTABLE, f"runs {kernel_use.name} (kernel {use.name})", use.location))
        elif use.kind == LIBRARY:
            owners = providers.libraries.get(library_name(use.name), set())
            evidence.add(owners & graph.nodes.keys(), Evidence(LIBRARY, use.describe(), use.location), use.optional)
    distributions = distribution_names(env)
    for name, files in scan.names.items():
        if "-" in name:  # a distribution name: importlib.metadata.version("scikit-learn")
            owners = {distributions[normalize_pip_name(name)]} if normalize_pip_name(name) in distributions else set()
        else:
            top = name.split(".")[0]
            if top in providers.stdlib or top in _COMMON_WORDS or top not in providers.modules:
                continue
            owners = module_owners(providers.modules, name)
        owners &= graph.nodes.keys()
        if owners:
            where = files[0] if files else ""
            evidence.add(owners, Evidence(NAMED, f"names {name!r}", where))
    missing_modules = [
        MissingModule(top, tuple(sorted({u.location for u in uses})), all(u.optional for u in uses))
        for top, uses in sorted(missing.items())
    ]
    return evidence, missing_modules, dynamic, typing_only




# -- plugins loaded by name -----------------------------------------------------------------------


def _entry_point_groups(dist: PipDistribution) -> dict[str, list[str]]:
    path = dist.path / "entry_points.txt"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}
    return {group: list(parser[group]) for group in parser.sections()}


def _consumers(group: str) -> set[str]:
    """Names (modules or distributions) of the package that loads an entry-point group."""
    if group in _KNOWN_CONSUMERS:
        known = _KNOWN_CONSUMERS[group]
        return {known} if known else set()
    lower = group.lower()
    names = {re.split(r"[.:]", lower)[0], lower.split("_")[0], lower.split("-")[0], lower.rstrip("0123456789")}
    return {n for n in names if n}


@dataclass(frozen=True)
class _Plugin:
    provider: str  # graph key
    consumers: frozenset[str]
    what: str  # "entry point pytest11 'xdist'"


def _plugins(env: EnvironmentData, providers: Providers, graph: DependencyGraph) -> list[_Plugin]:
    record_names = {r.dist: r.name for r in env.records}
    plugins: list[_Plugin] = []
    for dist in env.pip:
        key = owner_key(dist, record_names)
        if key not in graph.nodes:
            continue
        for group, names in _entry_point_groups(dist).items():
            consumers = _consumers(group)
            if consumers:
                shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                plugins.append(_Plugin(key, frozenset(consumers), f"entry point {group}: {shown}"))
    for consumer, keys in providers.plugin_files.items():
        for key in keys:
            if key in graph.nodes:
                plugins.append(_Plugin(key, frozenset({consumer}), f"{consumer} extension files"))
    return plugins


def _names_of(key: str, graph: DependencyGraph, providers: Providers) -> set[str]:
    node = graph.nodes[key]
    names = {node.name.lower(), normalize_pip_name(node.name), normalize_pip_name(node.name).replace("-", "_")}
    names |= {m.lower() for m in providers.top_modules.get(key, ())}
    return names


# -- the plan -------------------------------------------------------------------------------------


def _is_editable(dist: PipDistribution) -> str | None:
    """The source of an editable (development) install, or None."""
    try:
        data = json.loads((dist.path / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("dir_info"), dict) and data["dir_info"].get("editable"):
        return str(data.get("url") or "a local folder")
    if any(f.endswith(".egg-link") for f in dist.files):
        return "a local folder"
    return None


def _always_kept(
    env: EnvironmentData, graph: DependencyGraph, keep: Sequence[str], keep_list: Sequence[str], self_hosting: bool
) -> dict[str, str]:
    kept: dict[str, str] = {}
    if "conda:python" in graph.nodes:
        kept["conda:python"] = "the interpreter: python and everything it needs always stay"
    if self_hosting:
        for key in graph.nodes:
            name = graph.nodes[key].name
            if name in ("conda", "conda-prune") or normalize_pip_name(name) in ("conda", "conda-prune"):
                kept.setdefault(key, "conda and its dependencies stay in the environment that runs conda")
    for patterns, origin in ((keep, "--keep"), (keep_list, "the keep-list (prune_keep in .condarc)")):
        for pattern in patterns:
            for key, node in graph.nodes.items():
                if name_matches(pattern, node.name):
                    kept.setdefault(key, f"{origin} {pattern!r}")
    for key, node in graph.nodes.items():
        if node.kind == "conda" and node.name.startswith("_"):
            kept.setdefault(key, "a variant mutex: it selects build variants for the solver and holds no code")
    for dist in env.pip:
        if dist.is_pip_installed:
            source = _is_editable(dist)
            key = f"pypi:{dist.normalized_name}"
            if source and key in graph.nodes:
                kept.setdefault(key, f"an editable install of {source}: its modules live outside the environment")
    return kept


def _chains(graph: DependencyGraph, roots: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For every node the roots reach, one shortest chain of names from a root down to it."""
    parent: dict[str, str | None] = {}
    queue: deque[str] = deque()
    for root in sorted(roots):
        if root in graph.nodes and root not in parent:
            parent[root] = None
            queue.append(root)
    while queue:
        key = queue.popleft()
        for edge in sorted(graph.children.get(key, ()), key=lambda e: e.child):
            if edge.child not in parent:
                parent[edge.child] = key
                queue.append(edge.child)
    chains: dict[str, tuple[str, ...]] = {}
    for key in parent:
        chain = []
        step: str | None = key
        while step is not None:
            chain.append(graph.nodes[step].name)
            step = parent[step]
        chains[key] = tuple(reversed(chain))
    return chains


def _optional_dependents(graph: DependencyGraph, env: EnvironmentData, needed: set[str]) -> dict[str, list[str]]:
    """Unused packages a needed one may load on demand: its ``constrains``, or the extras of its
    ``Requires-Dist``. key -> cautions."""
    cautions: dict[str, list[str]] = {}
    for edge in graph.constrains:
        if edge.parent in needed and edge.child not in needed:
            parent = graph.nodes[edge.parent].name
            cautions.setdefault(edge.child, []).append(
                f"{parent} lists it in its constrains ({edge.spec}): {parent} may load it on demand"
            )
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with conda and pip
        return cautions
    markers = marker_environment(env)
    record_names = {r.dist: r.name for r in env.records}
    for dist in env.pip:
        parent_key = owner_key(dist, record_names)
        if parent_key not in needed:
            continue
        for line in dist.requires_dist:
            if "extra" not in line:
                continue
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            extras = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", str(marker)) if marker else []
            if not extras:
                continue
            try:
                if marker is not None and not any(marker.evaluate({**markers, "extra": e}) for e in extras):
                    continue
            except Exception:  # an unknown marker variable: say so rather than guess
                pass
            for node in graph.find(requirement.name):
                if node.key not in needed:
                    cautions.setdefault(node.key, []).append(
                        f"an optional dependency of {dist.name} (extra {extras[0]!r}): {dist.name} may use it when asked"
                    )
    return cautions


def plan_env_prune(
    env: EnvironmentData,
    scan: AppScan,
    *,
    keep: Sequence[str] = (),
    keep_list: Sequence[str] = (),
    self_hosting: bool = False,
    graph: DependencyGraph | None = None,
    roots: RootSet | None = None,
) -> EnvPrunePlan:
    """Decide, for every package of ``env``, whether the application at ``scan`` needs it.

    ``self_hosting``: the environment is the base environment or the one running conda, so
    conda and its dependencies stay. ``roots``: what the user asked for, reported beside each
    verdict (:func:`conda_prune.why.find_roots`). Reads only."""
    graph = DependencyGraph.build(env) if graph is None else graph
    asked_for = roots  # what the user asked for; ``roots`` below are what the application needs
    providers = environment_providers(env)
    evidence, missing, dynamic, typing_only = _collect_evidence(env, scan, providers, graph)
    kept = _always_kept(env, graph, keep, keep_list, self_hosting)

    roots = set(evidence.by_key) | set(kept)
    plugin_reasons: dict[str, list[Evidence]] = {}
    plugins = _plugins(env, providers, graph)
    names_cache: dict[str, set[str]] = {}
    while True:
        needed = graph.closure(roots)
        consumer_names: set[str] = set()
        for key in needed:
            if key not in names_cache:
                names_cache[key] = _names_of(key, graph, providers)
            consumer_names |= names_cache[key]
        added = False
        for plugin in plugins:
            if plugin.provider in needed or not (plugin.consumers & consumer_names):
                continue
            consumer = next(
                (graph.nodes[k].name for k in sorted(needed) if names_cache[k] & plugin.consumers), "a used package"
            )
            plugin_reasons.setdefault(plugin.provider, []).append(
                Evidence("plugin", f"{consumer} loads it ({plugin.what})")
            )
            roots.add(plugin.provider)
            added = True
        if not added:
            break

    # what stays although unused (installed with pip: conda cannot remove it) keeps its dependencies
    stays_anyway = {k for k in graph.nodes if k not in needed and graph.nodes[k].kind == "pypi"}
    kept_for_pip = graph.closure(stays_anyway) - needed - stays_anyway
    chains = _chains(graph, roots)
    pip_chains = _chains(graph, stays_anyway)
    cautions = _optional_dependents(graph, env, needed | kept_for_pip)

    verdicts: list[Verdict] = []
    for key, node in graph.nodes.items():
        common = dict(key=key, name=node.name, version=node.version, build=node.build, kind=node.kind)
        direct = evidence.by_key.get(key, []) + plugin_reasons.get(key, [])
        if key in evidence.by_key:
            verdict = Verdict(**common, status=USED, reason=str(evidence.by_key[key][0]),
                              evidence=tuple(direct), optional_only=evidence.optional.get(key, False))
        elif key in kept:
            verdict = Verdict(**common, status=KEPT, reason=kept[key], evidence=tuple(direct))
        elif key in plugin_reasons:
            verdict = Verdict(**common, status=USED, reason=str(plugin_reasons[key][0]), evidence=tuple(direct))
        elif key in needed:
            chain = chains.get(key, ())
            reason = f"needed by {chain[-2]}" if len(chain) > 1 else "needed by a used package"
            if len(chain) > 1 and any(
                e.kind == INJECTED and graph.nodes[e.parent].name == chain[-2] for e in graph.parents.get(key, ())
            ):  # no record lists it: conda adds it (pip to python)
                reason = (f"needed by {chain[-2]}: conda adds it as a dependency of {chain[-2]} "
                          "(add_pip_as_python_dependency)")
            verdict = Verdict(**common, status=NEEDED, reason=reason, needed_by=chain)
        elif key in kept_for_pip:
            chain = pip_chains.get(key, ())
            owner = chain[0] if chain else "a pip-installed package"
            verdict = Verdict(
                **common, status=KEPT, needed_by=chain,
                reason=f"needed by {owner}, installed with pip, which conda prune cannot remove",
            )
        else:
            notes = list(dict.fromkeys(cautions.get(key, ())))
            if node.kind == "pypi":
                notes.append(
                    f"installed with pip: conda cannot remove it; run 'python -m pip uninstall {node.name}' "
                    "in the environment"
                )
            verdict = Verdict(**common, status=UNUSED, reason=UNUSED_REASON, cautions=tuple(notes),
                              removable=node.kind == "conda")
        asked = next((r for r in asked_for.of(key) if r.asked), None) if asked_for is not None else None
        if asked is not None:
            verdict = replace(verdict, asked_for=asked.description)
        verdicts.append(verdict)
    verdicts.sort(key=lambda v: (v.name.lower(), v.kind))

    plan = EnvPrunePlan(
        prefix=env.prefix,
        apps=tuple(os.path.normpath(str(r)) for r in scan.roots),
        verdicts=verdicts,
        missing=missing,
        dynamic=sorted(dynamic, key=lambda u: (u.path, u.line)),
        typing_only=sorted(typing_only, key=lambda u: (u.path, u.line)),
        problems=[str(p) for p in scan.problems if not p.doubt] + [str(p) for p in env.problems],
        unparsed=tuple(sorted((p for p in scan.problems if p.parser_message), key=lambda p: (p.path, p.line or 0))),
        frozen=(env.prefix / "conda-meta" / "frozen").is_file(),
        files_scanned=scan.files,
        files_cached=scan.cached,
        skipped_environments=scan.skipped_environments,
        roots=asked_for,
        graph=graph,
    )
    plan.doubts += [f"{p}: what the application uses there is unknown" for p in scan.doubts]
    plan.doubts += [
        f"{env.prefix / 'conda-meta' / (d + '.json') if d != '*' else env.prefix / 'conda-meta'} could not be read: "
        "what that package needs is unknown"
        for d in env.unreadable
    ]
    if scan.files == 0 and not scan.doubts:
        plan.doubts.append(
            f"nothing to read in {', '.join(plan.apps)} (no Python, notebook, R, shell, Makefile, Dockerfile or CI "
            "file): nothing tells what the application uses; check the --app path"
        )
    broken = check_removal(graph, {v.key for v in plan.removable})
    if broken:  # the rules above keep every dependency of what stays; if not, remove nothing
        plan.doubts += [f"removing would break {u}" for u in broken]
    return plan


# -- consistency ----------------------------------------------------------------------------------


def check_removal(graph: DependencyGraph, removed: set[str]) -> list[Unsatisfied]:
    """What removing ``removed`` would leave unsatisfied among the packages that stay."""
    broken = []
    for key, edges in graph.children.items():
        if key in removed:
            continue
        for edge in edges:
            if edge.child in removed:
                broken.append(Unsatisfied(graph.nodes[key].name, edge.spec))
    return sorted(broken, key=lambda u: (u.package, u.requirement))


def unsatisfied(env: EnvironmentData, before: EnvironmentData | None = None) -> list[Unsatisfied]:
    """Every requirement of an installed package that nothing installed satisfies (by name:
    removing packages never changes the versions of those that stay). With ``before``, each is
    marked when it was already unsatisfied then."""
    def missing_in(data: EnvironmentData) -> set[tuple[str, str]]:
        graph = DependencyGraph.build(data)
        return {(graph.nodes[e.parent].name, e.spec) for e in graph.unresolved if e.parent in graph.nodes}

    now = missing_in(env)
    earlier = missing_in(before) if before is not None else set()
    return [Unsatisfied(name, spec, (name, spec) in earlier) for name, spec in sorted(now)]


# -- bytes ---------------------------------------------------------------------------------------




# -- the lean environment file ---------------------------------------------------------------------


def _channel_name(channel: str) -> str:
    channel = channel.rstrip("/")
    channel = re.sub(r"/(?:noarch|linux-\w+|osx-\w+|win-\w+)$", "", channel)
    for prefix in ("https://conda.anaconda.org/", "http://conda.anaconda.org/"):
        if channel.startswith(prefix):
            return channel[len(prefix):]
    if channel.startswith(("https://repo.anaconda.com/", "http://repo.anaconda.com/")):
        return channel.split("repo.anaconda.com/", 1)[1]
    return channel


def lean_environment(plan: EnvPrunePlan, env: EnvironmentData, name: str | None = None) -> str:
    """An ``environment.yml`` that rebuilds only what the application needs: the packages with
    direct evidence (and those kept by rule), pinned to the installed versions, conda packages
    first and pip-installed ones in a ``pip:`` section. The solver brings their dependencies."""
    graph = plan.graph or DependencyGraph.build(env)
    chosen = [v for v in plan.verdicts if v.status == USED or (v.status == KEPT and not v.needed_by)]
    conda = [v for v in chosen if v.kind == "conda" and not v.name.startswith("_")]
    pip = [v for v in chosen if v.kind == "pypi" and "editable" not in v.reason]
    editable = [v for v in chosen if v.kind == "pypi" and "editable" in v.reason]
    # conda packages needed only through a pip requirement: name them, or pip would fetch them
    conda_roots = {v.key for v in conda}
    conda_only = DependencyGraph()
    conda_only.nodes = graph.nodes
    conda_only.children = {k: [e for e in edges if e.kind != REQUIRES_DIST] for k, edges in graph.children.items()}
    reached = conda_only.closure(conda_roots)
    for v in plan.verdicts:
        if v.kind == "conda" and v.stays and v.key not in reached and not v.name.startswith("_") and v not in conda:
            if any(e.child == v.key for k in graph.nodes if graph.nodes[k].kind == "pypi" for e in graph.children[k]):
                conda.append(v)
    if pip and not any(v.name == "pip" for v in conda):
        pip_node = graph.nodes.get("conda:pip")
        conda.append(Verdict("conda:pip", "pip", pip_node.version if pip_node else "", "", "conda", NEEDED, ""))
    records = {f"conda:{r.name}": r for r in env.records}
    counts: dict[str, int] = {}
    for v in conda:
        record = records.get(v.key)
        if record is not None and record.channel:
            channel = _channel_name(record.channel)
            counts[channel] = counts.get(channel, 0) + 1
    channels = sorted(counts, key=lambda c: (-counts[c], c))
    own = _file_specs(plan)
    pinned = "pinned to the installed versions"
    if own:
        pinned += f" where {Path(plan.roots.file).name} gives no spec" if plan.roots else ""
    lines = [
        f"# What {', '.join(plan.apps)} uses in {env.prefix}, {pinned}.",
        "# Written by conda prune --export; rebuild with: conda env create -f THIS_FILE",
        f"name: {name or env.prefix.name}",
    ]
    if channels:
        lines.append("channels:")
        lines += [f"  - {c}" for c in channels]
    lines.append("dependencies:")
    for v in sorted(conda, key=lambda v: v.name):
        lines.append(f"  - {own[v.key]}" if v.key in own else f"  - {v.name}={v.version}" if v.version else f"  - {v.name}")
    if pip:
        lines.append("  - pip:")
        lines += [f"    - {own.get(v.key) or f'{v.name}=={v.version}'}" for v in sorted(pip, key=lambda v: v.name.lower())]
    for v in editable:
        lines.append(f"# {v.name} {v.version} is an editable install: add it back with pip install -e")
    return "\n".join(lines) + "\n"


def _file_specs(plan: EnvPrunePlan) -> dict[str, str]:
    """Graph key -> the spec as the user wrote it in the file the roots came from."""
    if plan.roots is None or not plan.roots.file:
        return {}
    return {r.key: r.spec for r in reversed(plan.roots.roots) if r.reason == FROM_FILE and r.spec}


def keep_patterns_unmatched(graph: DependencyGraph, patterns: Iterable[str]) -> list[str]:
    """--keep patterns that match no installed package (probably a typo)."""
    names = [n.name for n in graph.nodes.values()]
    return [p for p in patterns if not any(name_matches(p, n) for n in names) and not fnmatch.filter(names, p)]


# -- the whole run, for the render layer -----------------------------------------------------------


@dataclass
class EnvPruneReport:
    """A plan and what came of it: bytes, the export, the removal, the check after it."""

    plan: EnvPrunePlan
    freed: Freed
    package_bytes: dict[str, int] = field(default_factory=dict)  # removable key -> bytes it frees now
    dry_run: bool = False
    cache_after: int | None = None  # what the cache prune would free once the packages are gone
    cache_note: str = ""
    export_path: str | None = None
    export_text: str | None = None
    export_written: bool = False
    removed: list[str] = field(default_factory=list)
    unsatisfied_after: list[Unsatisfied] | None = None  # None: nothing was removed, nothing checked
    cache_prune: dict | None = None  # the cache prune's own JSON view, with --with-cache
