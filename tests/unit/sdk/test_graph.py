"""Property tests of the graph algorithms behind cycle checks and topological order."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from core.graph import reachable
from tradewind.sdk.graph import find_cycle, topological_order

NODES = [f"t{i}" for i in range(8)]

forward_edges = st.sets(
    st.tuples(st.integers(0, 7), st.integers(0, 7)).filter(lambda e: e[0] < e[1]), max_size=20
)


def graph_of(edges: set[tuple[int, int]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {node: set() for node in NODES}
    for before, after in edges:
        graph[NODES[before]].add(NODES[after])
    return graph


@given(forward_edges)
def test_acyclic_graphs_have_a_valid_order(edges: set[tuple[int, int]]) -> None:
    graph = graph_of(edges)
    assert find_cycle(graph) is None
    order = topological_order(graph)
    assert sorted(order) == sorted(NODES)
    position = {node: index for index, node in enumerate(order)}
    assert all(position[a] < position[b] for a, succ in graph.items() for b in succ)


@given(forward_edges, st.integers(0, 7), st.integers(0, 7))
def test_a_back_edge_on_a_path_makes_a_reported_cycle(
    edges: set[tuple[int, int]], start: int, end: int
) -> None:
    graph = graph_of(edges)
    source, target = NODES[min(start, end)], NODES[max(start, end)]
    if source != target and target not in reachable(graph, [source]):
        return
    graph[target].add(source)
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert all(b in graph[a] for a, b in itertools.pairwise(cycle))
