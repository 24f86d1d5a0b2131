"""Pure functions of a DAG's structure: neighbours, closures and priority weights."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums

Graph = Mapping[str, frozenset[str]]


def upstream_map(definition: dag_pb2.DagDefinition) -> dict[str, frozenset[str]]:
    """Each task's direct upstream task ids."""
    return {task.task_id: frozenset(task.upstream_task_ids) for task in definition.tasks}


def downstream_map(definition: dag_pb2.DagDefinition) -> dict[str, frozenset[str]]:
    """Each task's direct downstream task ids."""
    result: dict[str, set[str]] = {task.task_id: set() for task in definition.tasks}
    for task in definition.tasks:
        for upstream in task.upstream_task_ids:
            result.setdefault(upstream, set()).add(task.task_id)
    return {task_id: frozenset(ids) for task_id, ids in result.items()}


def closure(start: Iterable[str], edges: Graph) -> set[str]:
    """Every task reachable from ``start`` along ``edges`` (``start`` excluded)."""
    seen: set[str] = set()
    stack = [n for s in start for n in edges.get(s, ())]
    while stack:
        task_id = stack.pop()
        if task_id not in seen:
            seen.add(task_id)
            stack.extend(edges.get(task_id, ()))
    return seen


def priority_weights(definition: dag_pb2.DagDefinition) -> dict[str, int]:
    """Each task's effective priority under its weight rule, as Airflow computes it."""
    own = {task.task_id: task.priority_weight for task in definition.tasks}
    downstream = downstream_map(definition)
    upstream = upstream_map(definition)
    result = {}
    for task in definition.tasks:
        if task.weight_rule == ti_enums.PRIORITY_WEIGHT_RULE_ABSOLUTE:
            result[task.task_id] = task.priority_weight
        elif task.weight_rule == ti_enums.PRIORITY_WEIGHT_RULE_UPSTREAM:
            related = closure([task.task_id], upstream)
            result[task.task_id] = task.priority_weight + sum(own[t] for t in related)
        else:
            related = closure([task.task_id], downstream)
            result[task.task_id] = task.priority_weight + sum(own[t] for t in related)
    return result


@lru_cache(maxsize=512)
def parse_definition(blob: bytes) -> dag_pb2.DagDefinition:
    """Decode a stored definition; versions are immutable, so decoding is cached."""
    return dag_pb2.DagDefinition.FromString(blob)


def tasks_by_id(definition: dag_pb2.DagDefinition) -> dict[str, dag_pb2.TaskDefinition]:
    """The definition's tasks by id."""
    return {task.task_id: task for task in definition.tasks}
