"""The dependency-path questions of the graph, on small literal graphs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conda_prune.graph import DependencyGraph
from conda_prune.records import CondaRecord, EnvironmentData

PREFIX = Path("/nonexistent/env")


def graph_of(depends: dict[str, list[str]]) -> DependencyGraph:
    """A graph of conda records named by ``depends``' keys, each needing its list."""
    records = [
        CondaRecord(prefix=PREFIX, dist=f"{name}-1.0-0", name=name, version="1.0", build="0", depends=tuple(deps))
        for name, deps in depends.items()
    ]
    return DependencyGraph.build(EnvironmentData(prefix=PREFIX, records=records))


def names(chain) -> list[str]:
    return [chain[0].parent.split(":")[1], *(e.child.split(":")[1] for e in chain)] if chain else []


DIAMOND = {
    "app": ["web", "db"],
    "web": ["core >=1"],
    "db": ["core"],
    "core": ["libc"],
    "libc": [],
}


def test_paths_come_shortest_first_with_every_chain():
    graph = graph_of(DIAMOND)
    chains = [names(c) for c in graph.paths("conda:libc", {"conda:app", "conda:web"})]
    assert chains == [["web", "core", "libc"], ["app", "db", "core", "libc"], ["app", "web", "core", "libc"]]


def test_paths_of_a_root_itself_start_with_the_empty_chain():
    graph = graph_of(DIAMOND)
    assert list(graph.paths("conda:app", {"conda:app"})) == [[]]


def test_paths_with_a_limit_stop_early():
    graph = graph_of(DIAMOND)
    assert len(list(graph.paths("conda:libc", {"conda:app"}, limit=1))) == 1


def test_paths_through_a_cycle_end():
    graph = graph_of({"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []})
    chains = [names(c) for c in graph.paths("conda:d", {"conda:a"})]
    assert chains == [["a", "b", "c", "d"]]


def test_paths_to_a_target_no_root_reaches_are_empty_and_quick():
    layers = [[f"n{i}_{j}" for j in range(5)] for i in range(14)]
    depends = {name: [*layers[i + 1]] if i + 1 < len(layers) else [] for i, layer in enumerate(layers) for name in layer}
    depends["orphan"] = []
    graph = graph_of(depends)
    start = time.perf_counter()
    assert list(graph.paths("conda:n13_0", {"conda:orphan"})) == []
    assert time.perf_counter() - start < 1


def test_shortest_paths_gives_one_chain_per_root():
    graph = graph_of(DIAMOND)
    result = graph.shortest_paths("conda:libc", {"conda:app", "conda:web", "conda:core"})
    assert {k: names(v) for k, v in result.items()} == {
        "conda:app": ["app", "db", "core", "libc"],
        "conda:core": ["core", "libc"],
        "conda:web": ["web", "core", "libc"],
    }


def test_shortest_paths_include_the_target_when_it_is_a_root():
    graph = graph_of(DIAMOND)
    assert graph.shortest_paths("conda:core", {"conda:core"}) == {"conda:core": []}


def test_count_paths_matches_the_listed_chains():
    graph = graph_of(DIAMOND)
    roots = {"conda:app", "conda:web"}
    assert graph.count_paths("conda:libc", roots) == len(list(graph.paths("conda:libc", roots))) == 3


def test_count_paths_ignores_a_cycle_through_the_target_itself():
    # conda's python -> pip -> python: chains end at the target, so the cycle does not matter
    graph = graph_of({"app": ["interp"], "interp": ["installer"], "installer": ["interp"]})
    assert graph.count_paths("conda:interp", {"conda:app", "conda:installer"}) == 2
    assert graph.count_paths("conda:installer", {"conda:app"}) == 1


def test_count_paths_counts_conda_injected_pip_as_an_edge_of_its_own():
    graph = graph_of({"app": ["python"], "python": [], "pip": ["python"]})
    assert graph.count_paths("conda:pip", {"conda:app"}) == 1
    assert graph.count_paths("conda:python", {"conda:app", "conda:pip"}) == 2


def test_count_paths_counts_through_a_cycle_above_the_target():
    graph = graph_of({"a": ["b"], "b": ["c", "d"], "c": ["a", "d"], "d": []})
    roots = {"conda:a", "conda:c"}
    assert graph.count_paths("conda:d", roots) == len(list(graph.paths("conda:d", roots))) == 4


def test_count_paths_gives_up_on_a_cycle_too_large_to_walk():
    graph = graph_of({"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []})
    assert graph.count_paths("conda:d", {"conda:a"}, largest_cycle=2) is None


@pytest.mark.parametrize("seed", range(25))
def test_count_paths_agrees_with_listing_on_random_graphs_with_cycles(seed):
    import random

    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(9)]
    depends = {n: sorted(rng.sample([m for m in nodes if m != n], rng.randint(0, 3))) for n in nodes}
    graph = graph_of(depends)
    roots = {f"conda:{n}" for n in rng.sample(nodes, 3)}
    for target in nodes:
        key = f"conda:{target}"
        chains = list(graph.paths(key, roots))
        assert graph.count_paths(key, roots) == len(chains), (depends, roots, target)
        assert [len(c) for c in chains] == sorted(len(c) for c in chains)
        assert len({tuple(c) for c in chains}) == len(chains)
        for chain in chains:
            visited = names(chain) or [target]
            assert len(set(visited)) == len(visited) and visited[-1] == target
            assert f"conda:{visited[0]}" in roots


def test_count_paths_of_a_huge_fan_is_exact_and_quick():
    width, depth = 4, 12
    layers = [[f"n{i}_{j}" for j in range(width)] for i in range(depth)]
    depends = {name: [*layers[i + 1]] if i + 1 < depth else [] for i, layer in enumerate(layers) for name in layer}
    graph = graph_of(depends)
    start = time.perf_counter()
    assert graph.count_paths("conda:n11_0", {"conda:n0_0"}) == width ** (depth - 2)
    assert len(graph.shortest_paths("conda:n11_0", {f"conda:n0_{j}" for j in range(width)})) == width
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("roots", [set(), {"conda:nothing"}], ids=["no-roots", "unknown-root"])
def test_distances_to_roots_without_roots_are_empty(roots):
    assert graph_of(DIAMOND).distances_to_roots(roots) == {}


def test_constrains_are_reported_apart_and_never_make_a_path(tmp_path):
    from conda_prune.roots import REQUESTED, Root, RootSet
    from conda_prune.why import explain_package

    records = [
        CondaRecord(prefix=PREFIX, dist="app-1.0-0", name="app", version="1.0", build="0", depends=("numpy",)),
        CondaRecord(prefix=PREFIX, dist="arrow-15-0", name="arrow", version="15", build="0", constrains=("numpy <2",)),
        CondaRecord(prefix=PREFIX, dist="numpy-1.26.4-0", name="numpy", version="1.26.4", build="0"),
    ]
    graph = DependencyGraph.build(EnvironmentData(prefix=PREFIX, records=records))
    roots = RootSet((Root("conda:app", "app", REQUESTED, "app"), Root("conda:arrow", "arrow", REQUESTED, "arrow")), True)
    numpy = explain_package(graph, "conda:numpy", roots, tmp_path)
    assert [(c.parent, c.spec, c.kind) for c in numpy.constrained_by] == [("arrow", "numpy <2", "constrains")]
    assert [p.root.name for p in numpy.paths] == ["app"] and numpy.would_break == ("app",)
