"""Pure graph algorithms over task ids: cycles and topological order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


def find_cycle(downstream: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of the graph, if there is one.

    Args:
        downstream: each node's direct successors.

    Returns:
        The nodes along one cycle with the first repeated at the end (``[a, b, a]``), or None.
        The search visits nodes in sorted order, so the answer is deterministic.

    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(downstream, white)
    for start in sorted(downstream):
        if colour[start] != white:
            continue
        path = [start]
        colour[start] = grey
        stack = [iter(sorted(downstream[start]))]
        while stack:
            successor = next(stack[-1], None)
            if successor is None:
                stack.pop()
                colour[path.pop()] = black
                continue
            state = colour.get(successor, black)
            if state == grey:
                return [*path[path.index(successor) :], successor]
            if state == white:
                colour[successor] = grey
                path.append(successor)
                stack.append(iter(sorted(downstream.get(successor, ()))))
    return None


def topological_order(downstream: Mapping[str, Iterable[str]]) -> list[str]:
    """The nodes so that every node comes after all its predecessors.

    Ties are broken by name, so the order is deterministic.

    Args:
        downstream: each node's direct successors; the graph must be acyclic.

    Returns:
        Every node once.

    Raises:
        ValueError: when the graph has a cycle.

    """
    indegree = dict.fromkeys(downstream, 0)
    for successors in downstream.values():
        for successor in successors:
            indegree[successor] = indegree.get(successor, 0) + 1
    ready = sorted(node for node, count in indegree.items() if count == 0)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for successor in downstream.get(node, ()):
            indegree[successor] -= 1
            if indegree[successor] == 0:
                heapq.heappush(ready, successor)
    if len(order) != len(indegree):
        raise ValueError("the graph has a cycle")
    return order
