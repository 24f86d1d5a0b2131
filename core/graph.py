"""The order of a DAG's tasks: every task after its upstream tasks."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping


def dependency_order(upstream: Mapping[str, Collection[str]]) -> list[str]:
    """Task ids with every task after its upstream tasks (Kahn's algorithm, ties by id).

    Upstream ids that are not keys are ignored; tasks on a cycle (which a valid DAG has not)
    come last, in id order.
    """
    waiting = {t: len(set(ups) & upstream.keys()) for t, ups in upstream.items()}
    downstream: dict[str, list[str]] = {t: [] for t in upstream}
    for task_id, ups in upstream.items():
        for parent in set(ups) & upstream.keys():
            downstream[parent].append(task_id)
    ready = sorted((t for t, count in waiting.items() if count == 0), reverse=True)
    order: list[str] = []
    while ready:
        task_id = ready.pop()
        order.append(task_id)
        for child in downstream[task_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
        ready.sort(reverse=True)
    return order + sorted(set(upstream) - set(order))


def reachable(edges: Mapping[str, Iterable[str]], starts: Iterable[str]) -> set[str]:
    """Every node reachable from ``starts`` along ``edges`` (starts excluded unless on a cycle).

    With downstream edges these are a task's descendants, with upstream edges its ancestors.
    """
    seen: set[str] = set()
    pending = [successor for start in starts for successor in edges.get(start, ())]
    while pending:
        node = pending.pop()
        if node not in seen:
            seen.add(node)
            pending.extend(edges.get(node, ()))
    return seen
