"""The plan: a verdict for every package, in the order the package docstring gives."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from ..appscan import (
    AppScan,
)
from ..environment import (
    environment_providers,
    file_owners,
    name_matches,
    owner_key,
)
from ..graph import INJECTED, DependencyGraph, marker_environment
from ..records import EnvironmentData, PipDistribution, normalize_pip_name
from ..roots import RootSet
from ..safeio import read_bytes
from .evidence import collect_evidence, names_of, plugins_of
from .extras import Extras
from .metapackages import METAPACKAGE, Metapackages
from .results import (
    KEPT,
    NEEDED,
    UNUSED,
    UNUSED_REASON,
    USED,
    EnvPrunePlan,
    Evidence,
    Loads,
    Unsatisfied,
    Verdict,
)

#: top-level names that badly packaged distributions ship and that code writes as plain words
#: ("data", "tests"): a quoted string equal to one is no evidence


#: entry-point groups loaded by a package whose name the group does not start with


#: folders whose files a package reads to find its plugins: folder -> the module that reads it


# -- the plan -------------------------------------------------------------------------------------


def _is_editable(dist: PipDistribution, problems: list[str]) -> str | None:
    """The source of an editable (development) install, or None. A ``direct_url.json`` that is
    there but cannot be read (a FIFO, a device, over 1 MiB, nested too deeply) is a line in
    ``problems``; the distribution is then taken as installed from an index."""
    path = dist.path / "direct_url.json"
    try:
        data = json.loads(read_bytes(path, limit=1 << 20))
    except FileNotFoundError:
        data = None
    except (OSError, ValueError, RecursionError) as exc:
        why = f"cannot be read ({exc.strerror or exc})" if isinstance(exc, OSError) else "is not valid JSON"
        problems.append(f"{path} {why}: whether {dist.name} is an editable install is unknown, so it is "
                        f"taken as installed from an index; reinstall {dist.name} with pip")
        data = None
    if isinstance(data, dict) and isinstance(data.get("dir_info"), dict) and data["dir_info"].get("editable"):
        return str(data.get("url") or "a local folder")
    if any(f.endswith(".egg-link") for f in dist.files):
        return "a local folder"
    return None


def _always_kept(
    env: EnvironmentData, graph: DependencyGraph, keep: Sequence[str], keep_list: Sequence[str], self_hosting: bool,
    problems: list[str],
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
            source = _is_editable(dist, problems)
            key = f"pypi:{dist.normalized_name}"
            if source and key in graph.nodes:
                kept.setdefault(key, f"an editable install of {source}: its modules live outside the environment")
    return kept


def pip_over_conda(env: EnvironmentData) -> dict[str, tuple[str, str]]:
    """Conda records whose files a pip-installed distribution's RECORD now lists (``pip install
    -U numpy`` in a conda environment): conda's transaction would delete the files pip now owns.
    key -> (why it stays, what to do instead)."""
    owners = file_owners(env)
    overlap: dict[str, tuple[PipDistribution, list[str]]] = {}  # conda key -> the first such dist, its files
    for dist in env.pip:
        if dist.is_pip_installed:
            for path in dist.files:
                for key in sorted(owners.get(path, ())):
                    if key.startswith("conda:") and overlap.setdefault(key, (dist, []))[0] is dist:
                        overlap[key][1].append(path)
    found: dict[str, tuple[str, str]] = {}
    for key, (dist, paths) in overlap.items():
        files = paths[0] + (f" and {len(paths) - 1} more file(s) are" if len(paths) > 1 else " is")
        found[key] = (
            f"pip installed {dist.name} {dist.version} over it: {files} now pip's, and removing it through "
            "conda would delete them",
            f"run 'python -m pip uninstall {dist.name}' in the environment first, then conda prune again (or "
            f"'conda install --force-reinstall {key.split(':', 1)[1]}' to give the files back to conda)",
        )
    return found


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
    record_names = env.name_of_dist
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
    evidence_from: Mapping[str, Sequence[Evidence]] | None = None,
    expanders: Sequence[Callable[[frozenset[str]], Loads]] = (),
    keep_optional: bool = False,
) -> EnvPrunePlan:
    """Decide, for every package of ``env``, whether the application at ``scan`` needs it.

    ``self_hosting``: the environment is the base environment or the one running conda, so
    conda and its dependencies stay. ``roots``: what the user asked for, reported beside each
    verdict (:func:`conda_prune.why.find_roots`). ``evidence_from``: direct evidence found
    outside the application's files (graph key -> evidence; a traced run). ``expanders``: given
    what is needed so far, what those packages load themselves (:class:`Loads`); run to a fixed
    point with the plugins. ``keep_optional``: what a used package can load on demand stays.
    Reads only."""
    graph = DependencyGraph.build(env) if graph is None else graph
    asked_for = roots  # what the user asked for; ``roots`` below are what the application needs
    providers = environment_providers(env)
    evidence, missing, dynamic, typing_only = collect_evidence(env, scan, providers, graph)
    for key, found in (evidence_from or {}).items():
        if key in graph.nodes:
            evidence.add([key], found[0])
            evidence.by_key[key].extend(found[1:])
    kept_problems: list[str] = []  # a direct_url.json that cannot be read
    kept = _always_kept(env, graph, keep, keep_list, self_hosting, kept_problems)
    replaced = pip_over_conda(env)
    for key, (why, _) in replaced.items():
        kept.setdefault(key, why)

    roots = set(evidence.by_key) | set(kept)
    extras = Extras(env, graph, scan, providers)  # what needed packages load, besides the caller's expanders
    expanders = [*expanders, extras, Metapackages(graph, graph.closure(kept), asked_for)]
    plugin_reasons: dict[str, list[Evidence]] = {}
    plugin_doubts: list[str] = []  # an entry_points.txt that cannot be read
    plugins = plugins_of(env, providers, graph, plugin_doubts)
    names_cache: dict[str, set[str]] = {}
    loaded: dict[str, list[Evidence]] = {}  # key -> why a needed package loads it
    on_demand: dict[str, list[Evidence]] = {}
    load_doubts: list[str] = []
    asked: dict[int, frozenset[str]] = {}  # expander -> the needed set it last saw
    while True:
        needed = graph.closure(roots)
        consumer_names: set[str] = set()
        for key in needed:
            if key not in names_cache:
                names_cache[key] = names_of(key, graph, providers)
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
        for n, expand in enumerate(expanders):
            frozen = frozenset(needed)
            if asked.get(n) == frozen:
                continue
            asked[n] = frozen
            loads = expand(frozen)
            load_doubts += [d for d in loads.doubts if d not in load_doubts]
            for key, why in loads.on_demand.items():
                if key in graph.nodes:
                    on_demand.setdefault(key, []).extend(e for e in why if e not in on_demand.get(key, []))
            for key, why in loads.needed.items():
                if key in graph.nodes and key not in needed:
                    loaded.setdefault(key, []).extend(why)
                    roots.add(key)
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
            verdict = Verdict(**common, status=KEPT, reason=kept[key], evidence=tuple(direct),
                              cautions=(replaced[key][1],) if key in replaced else ())
        elif key in plugin_reasons:
            verdict = Verdict(**common, status=USED, reason=str(plugin_reasons[key][0]), evidence=tuple(direct))
        elif key in loaded:  # a metapackage stays by rule, with what it brings; the rest is needed
            verdict = Verdict(**common, status=KEPT if loaded[key][0].kind == METAPACKAGE else NEEDED,
                              reason=str(loaded[key][0]), evidence=tuple(loaded[key]))
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
            # what a used package can load on demand: an import in one of its functions, an extra, constrains
            demand = tuple(dict.fromkeys([*(str(e) for e in on_demand.get(key, ())), *cautions.get(key, ())]))
            if keep_optional and demand:
                verdict = Verdict(**common, status=KEPT, cautions=tuple(notes), on_demand=demand,
                                  reason="--keep-optional: a used package can load it on demand")
            else:
                verdict = Verdict(**common, status=UNUSED, reason=UNUSED_REASON, cautions=tuple(notes),
                                  on_demand=demand, removable=node.kind == "conda")
        asked = next((r for r in asked_for.of(key) if r.asked), None) if asked_for is not None else None
        if asked is not None:
            verdict = replace(verdict, asked_for=asked.description)
        verdicts.append(verdict)
    verdicts.sort(key=lambda v: (v.name.lower(), v.kind))

    scan.finish_syntax()  # the parse of the app's files ran while the imports were followed
    plan = EnvPrunePlan(
        prefix=env.prefix,
        apps=tuple(os.path.normpath(str(r)) for r in scan.roots),
        verdicts=verdicts,
        missing=missing,
        dynamic=sorted(dynamic, key=lambda u: (u.path, u.line)),
        typing_only=sorted(typing_only, key=lambda u: (u.path, u.line)),
        problems=[str(p) for p in scan.problems if not p.doubt] + [str(p) for p in env.problems] + (
            [f"the standard library's modules were taken from {providers.stdlib_source}"]
            if providers.stdlib_is_the_hosts else []),
        unparsed=tuple(sorted((p for p in scan.problems if p.parser_message), key=lambda p: (p.path, p.line or 0))),
        frozen=(env.prefix / "conda-meta" / "frozen").is_file(),
        files_scanned=scan.files,
        files_cached=scan.cached,
        skipped_environments=scan.skipped_environments,
        roots=asked_for,
        graph=graph,
    )
    plan.doubts += [f"{p}: what the application uses there is unknown" for p in scan.doubts]
    plan.doubts += load_doubts
    plan.doubts += evidence.doubts + plugin_doubts
    plan.problems += kept_problems + extras.problems
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


def keep_patterns_unmatched(graph: DependencyGraph, patterns: Iterable[str]) -> list[str]:
    """--keep patterns that match no installed package (probably a typo)."""
    names = [n.name for n in graph.nodes.values()]
    return [p for p in patterns if not any(name_matches(p, n) for n in names) and not fnmatch.filter(names, p)]


