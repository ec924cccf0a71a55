"""One dependency graph over an environment: conda ``depends`` and pip ``Requires-Dist``.

Nodes are conda records and pip-installed distributions. A pip requirement resolves to the
distribution that provides that name: a pip-installed dist, or the conda record whose files
hold the matching ``*.dist-info`` (so ``torch`` from pip requiring ``numpy`` lands on conda's
numpy), or, only when no dist-info says otherwise, a conda record of the same name. Markers are
evaluated for the environment's own Python and platform. ``constrains`` are kept apart: they
restrict versions but never pull a package in.

conda adds ``pip`` as a dependency of ``python`` (``add_pip_as_python_dependency``); the graph
does the same, labelled as such, so the two tools agree on what an environment needs.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .records import CondaRecord, EnvironmentData, PipDistribution, normalize_pip_name
from .specs import spec_name

DEPENDS = "depends"
REQUIRES_DIST = "requires-dist"
INJECTED = "injected"
CONSTRAINS = "constrains"


@dataclass(frozen=True)
class Node:
    key: str  # "conda:<name>" or "pypi:<normalized name>"
    name: str
    version: str
    kind: str  # "conda" or "pypi"
    build: str = ""
    channel: str = ""
    record: CondaRecord | None = field(default=None, compare=False, repr=False)
    dist: PipDistribution | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" + (" (pypi)" if self.kind == "pypi" else "")


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    spec: str  # the requirement that creates the edge, as written by the parent
    kind: str  # DEPENDS, REQUIRES_DIST, INJECTED or CONSTRAINS


def marker_environment(env: EnvironmentData) -> dict[str, str]:
    """PEP 508 marker variables for this environment (its Python, its platform)."""
    python = next((r for r in env.records if r.name == "python"), None)
    version = python.version if python else ""
    parts = version.split(".")
    subdir = next((r.subdir for r in env.records if r.subdir and r.subdir != "noarch"), "")
    system, _, arch = subdir.partition("-")
    platform = {"linux": "linux", "osx": "darwin", "win": "win32"}.get(system, "")
    machine = {"64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "ppc64le": "ppc64le", "32": "i686"}.get(arch, arch)
    if system == "win":
        machine = {"64": "AMD64", "arm64": "ARM64"}.get(arch, machine)
    result = {
        "python_version": ".".join(parts[:2]),
        "python_full_version": version,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": platform,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}.get(platform, ""),
        "os_name": "nt" if platform == "win32" else "posix",
        "platform_machine": machine,
        "extra": "",
    }
    return {k: v for k, v in result.items() if v or k == "extra"}


def _requirement(text: str) -> tuple[str, set[str], object] | None:
    """name, extras, marker (or None) of a Requires-Dist line."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with conda and pip
        name = re.split(r"[\s\[;<>=!~(]", text.strip(), maxsplit=1)[0]
        return (normalize_pip_name(name), set(), None) if name else None
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    return normalize_pip_name(req.name), set(req.extras), req.marker


def _marker_true(marker: object, env: dict[str, str], extras: Iterable[str]) -> bool:
    if marker is None:
        return True
    try:
        return any(marker.evaluate({**env, "extra": extra}) for extra in ("", *extras))  # type: ignore[attr-defined]
    except Exception:  # an unknown variable: count the dependency, the safe direction
        return True


class DependencyGraph:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.children: dict[str, list[Edge]] = {}
        self.parents: dict[str, list[Edge]] = {}
        self.constrains: list[Edge] = []
        self.unresolved: list[Edge] = []  # requirements nothing installed satisfies (child = name)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def build(cls, env: EnvironmentData, markers: dict[str, str] | None = None) -> DependencyGraph:
        graph = cls()
        markers = marker_environment(env) if markers is None else markers
        conda_by_name: dict[str, str] = {}
        for rec in env.records:
            key = f"conda:{rec.name}"
            graph._add(Node(key, rec.name, rec.version, "conda", rec.build, rec.channel, record=rec))
            conda_by_name[rec.name] = key
        # which node provides each pip name
        provider: dict[str, str] = {}
        name_of_dist = env.name_of_dist
        for dist in env.pip:
            owner = name_of_dist.get(dist.conda_owner or "")
            if owner is not None:
                provider.setdefault(dist.normalized_name, f"conda:{owner}")
        pip_nodes: list[PipDistribution] = []
        for dist in env.pip:
            if dist.conda_owner is None:
                key = f"pypi:{dist.normalized_name}"
                graph._add(Node(key, dist.name, dist.version, "pypi", "pypi_0", "pypi", dist=dist))
                provider[dist.normalized_name] = key  # pip's copy shadows a conda one
                pip_nodes.append(dist)
        for name, key in conda_by_name.items():
            provider.setdefault(normalize_pip_name(name), key)

        for rec in env.records:
            parent = f"conda:{rec.name}"
            for spec in rec.depends:
                name = spec_name(spec)
                if name.startswith("__"):
                    continue  # virtual packages are not installed
                child = conda_by_name.get(name)
                graph._link(Edge(parent, child or name, spec, DEPENDS), resolved=child is not None)
            for spec in rec.constrains:
                name = spec_name(spec)
                if name in conda_by_name:
                    graph.constrains.append(Edge(parent, conda_by_name[name], spec, CONSTRAINS))
        if "python" in conda_by_name and "pip" in conda_by_name:
            graph._link(Edge("conda:python", "conda:pip", "pip (added by conda: add_pip_as_python_dependency)", INJECTED))

        # pip requirements of pip-installed dists, and of dist-infos that conda packages ship
        sources: list[tuple[str, PipDistribution]] = [(f"pypi:{d.normalized_name}", d) for d in pip_nodes]
        for dist in env.pip:
            if dist.conda_owner is not None and dist.normalized_name in provider:
                sources.append((provider[dist.normalized_name], dist))
        for parent, dist in sources:
            wanted_extras: set[str] = set()
            for line in dist.requires_dist:
                parsed = _requirement(line)
                if parsed is None:
                    continue
                name, extras, marker = parsed
                if not _marker_true(marker, markers, wanted_extras):
                    continue
                child = provider.get(name)
                if child == parent:
                    continue
                if dist.conda_owner is not None and child is not None and child.startswith("conda:"):
                    # conda already records this edge as a depends; keep pip's only if new
                    if any(e.child == child for e in graph.children.get(parent, ())):
                        continue
                graph._link(Edge(parent, child or f"pypi:{name}", line, REQUIRES_DIST), resolved=child is not None)
        return graph

    def _add(self, node: Node) -> None:
        self.nodes[node.key] = node
        self.children.setdefault(node.key, [])
        self.parents.setdefault(node.key, [])

    def _link(self, edge: Edge, resolved: bool = True) -> None:
        if not resolved:
            self.unresolved.append(edge)
            return
        if any(e.child == edge.child and e.spec == edge.spec for e in self.children[edge.parent]):
            return
        self.children[edge.parent].append(edge)
        self.parents[edge.child].append(edge)

    # -- questions ----------------------------------------------------------------------------

    def find(self, name: str) -> list[Node]:
        """Nodes called ``name`` (conda name, or pip name in any spelling)."""
        wanted = normalize_pip_name(name)
        return [n for n in self.nodes.values() if n.name == name or normalize_pip_name(n.name) == wanted]

    def closure(self, keys: Iterable[str]) -> set[str]:
        """``keys`` and everything they need, transitively (constrains excluded)."""
        seen: set[str] = set()
        todo = [k for k in keys if k in self.nodes]
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            todo.extend(e.child for e in self.children.get(key, ()) if e.child not in seen)
        return seen

    def dependents(self, key: str) -> set[str]:
        """Everything that needs ``key``, directly or transitively (what breaks without it)."""
        seen: set[str] = set()
        todo = [e.parent for e in self.parents.get(key, ())]
        while todo:
            parent = todo.pop()
            if parent in seen or parent == key:
                continue
            seen.add(parent)
            todo.extend(e.parent for e in self.parents.get(parent, ()))
        return seen

    def leaves(self) -> list[str]:
        """Nodes nothing depends on: the fallback roots when there is no history."""
        return sorted(k for k, parents in self.parents.items() if not parents)

    def paths(self, target: str, roots: Iterable[str], limit: int | None = None) -> Iterator[list[Edge]]:
        """Dependency chains from any root down to ``target``, shortest first, each simple
        (no node twice), so cycles never loop.

        Chains are produced length by length (iterative deepening upwards from the target),
        and a partial chain is only extended while a root is still within reach of the
        remaining length, so a target no root reaches costs one breadth-first pass, not a walk
        over every chain of the graph. A chain may pass through other roots."""
        roots = set(roots)
        if target not in self.nodes:
            return
        reach = self.distances_to_roots(roots)
        if target not in reach:
            return
        produced = 0
        length = reach[target]
        while True:
            longer = [False]
            for chain in self._chains_of_length(target, roots, reach, length, longer):
                yield chain
                produced += 1
                if limit is not None and produced >= limit:
                    return
            if not longer[0]:
                return
            length += 1

    def _chains_of_length(
        self, target: str, roots: set[str], reach: dict[str, int], length: int, longer: list[bool]
    ) -> Iterator[list[Edge]]:
        """Simple chains of exactly ``length`` edges from a root down to ``target`` (depth first).
        Sets ``longer[0]`` when a partial chain was cut by the length alone, that is when
        longer chains may exist."""
        if length == 0:
            if target in roots:
                yield []
            longer[0] = any(e.parent in reach for e in self.parents.get(target, ()))
            return
        chain: list[Edge] = []
        on_chain = {target}
        stack: list[Iterator[Edge]] = [iter(self._sorted_parents(target))]
        while stack:
            edge = next(stack[-1], None)
            if edge is None:
                stack.pop()
                if chain:
                    on_chain.discard(chain.pop().parent)
                continue
            parent = edge.parent
            depth = len(chain) + 1
            if parent in on_chain or parent not in reach:
                continue
            if depth + reach[parent] > length:
                longer[0] = True
                continue
            if depth == length:
                if parent in roots:
                    yield [edge, *reversed(chain)]
                if any(e.parent not in on_chain and e.parent in reach for e in self.parents.get(parent, ())):
                    longer[0] = True
                continue
            chain.append(edge)
            on_chain.add(parent)
            stack.append(iter(self._sorted_parents(parent)))

    def _sorted_parents(self, key: str) -> list[Edge]:
        return sorted(self.parents.get(key, ()), key=lambda e: (e.parent, e.spec))

    def distances_to_roots(self, roots: Iterable[str]) -> dict[str, int]:
        """For every node a root can reach, the fewest edges from a root down to it."""
        distance = {r: 0 for r in roots if r in self.nodes}
        queue = deque(distance)
        while queue:
            key = queue.popleft()
            for edge in self.children.get(key, ()):
                if edge.child not in distance:
                    distance[edge.child] = distance[key] + 1
                    queue.append(edge.child)
        return distance

    def shortest_paths(self, target: str, roots: Iterable[str]) -> dict[str, list[Edge]]:
        """For each root that needs ``target``, one shortest chain from it down to ``target``.

        One breadth-first pass upwards from the target: linear in the size of the graph however
        many chains there are. Ties are broken by name, so the answer is stable."""
        roots = set(roots)
        if target not in self.nodes:
            return {}
        towards: dict[str, Edge | None] = {target: None}
        queue = deque([target])
        while queue:
            key = queue.popleft()
            for edge in self._sorted_parents(key):
                if edge.parent not in towards:
                    towards[edge.parent] = edge
                    queue.append(edge.parent)
        result: dict[str, list[Edge]] = {}
        for root in sorted(roots & towards.keys()):
            chain: list[Edge] = []
            step = towards[root]
            while step is not None:
                chain.append(step)
                step = towards[step.child]
            result[root] = chain
        return result

    def count_paths(self, target: str, roots: Iterable[str], *, largest_cycle: int = 12) -> int | None:
        """How many chains :meth:`paths` would produce, without producing them.

        A chain ends at ``target`` and never passes through it, so only the packages above it
        matter. They are grouped into strongly connected parts (a dependency cycle is one part,
        every other package a part of its own); a chain crosses each part at most once, so the
        chains from a package are the simple walks inside its part times the chains from where
        each walk leaves it, counted part by part from the bottom up. Walks inside a part are
        listed, so a cycle of more than ``largest_cycle`` packages gives None (not counted)."""
        if target not in self.nodes:
            return 0
        inside = self.dependents(target) | {target}

        def below(key: str) -> list[str]:
            if key == target:
                return []
            return [e.child for e in self.children.get(key, ()) if e.child in inside]

        ways: dict[str, int] = {}
        for part in _strong_parts(sorted(inside), below):  # bottom parts first
            if len(part) > largest_cycle:
                return None
            members = set(part)
            leaving = {
                key: sum(ways[child] for child in below(key) if child not in members) for key in part
            }
            if target in members:
                leaving[target] = 1
            for key in part:
                ways[key] = sum(
                    walks * leaving[end] for end, walks in _walks_within(key, members, below).items()
                )
        return sum(ways[r] for r in set(roots) if r in ways)


def _strong_parts(keys: list[str], below) -> list[list[str]]:
    """Strongly connected parts of the graph ``below`` spans over ``keys`` (Tarjan, without
    recursion), each part listed after every part it leads to."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    parts: list[list[str]] = []
    for start in keys:
        if start in index:
            continue
        work = [(start, iter(below(start)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            key, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(below(child))))
                elif child in on_stack:
                    low[key] = min(low[key], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[key])
            if low[key] == index[key]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == key:
                        break
                parts.append(sorted(part))
    return parts


def _walks_within(start: str, members: set[str], below) -> dict[str, int]:
    """For each member of a strongly connected part, the number of simple walks from ``start``
    to it that stay inside the part (1 for ``start`` itself: the empty walk)."""
    counts: dict[str, int] = {}
    on_walk = {start}

    def walk(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1
        for child in below(key):
            if child in members and child not in on_walk:
                on_walk.add(child)
                walk(child)
                on_walk.discard(child)

    walk(start)
    return counts
