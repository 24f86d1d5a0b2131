"""Pure functions of a DAG's structure: neighbours, closures and priority weights."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.graph import reachable
from core.setup_teardown import Shape
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums


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


def task_shapes(definition: dag_pb2.DagDefinition) -> dict[str, Shape]:
    """Each task's upstream ids and setup/teardown role, for the rules of ``core``."""
    return {
        task.task_id: Shape(
            upstream=frozenset(task.upstream_task_ids),
            is_setup=task.is_setup,
            is_teardown=task.is_teardown,
            on_failure_fail_dagrun=task.on_failure_fail_dagrun,
        )
        for task in definition.tasks
    }


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
            related = reachable(upstream, [task.task_id])
            result[task.task_id] = task.priority_weight + sum(own[t] for t in related)
        else:
            related = reachable(downstream, [task.task_id])
            result[task.task_id] = task.priority_weight + sum(own[t] for t in related)
    return result


def length_sources(length: dag_pb2.MapLength) -> set[str]:
    """The tasks whose return values a mapped task's length depends on."""
    kind = length.WhichOneof("source")
    if kind == "upstream_task_id":
        return {length.upstream_task_id}
    if kind in (None, "literal"):
        return set()
    return set().union(*(length_sources(part) for part in getattr(length, kind).parts))


def mapped_over(definition: dag_pb2.DagDefinition) -> frozenset[str]:
    """The tasks whose return value some mapped task of the DAG maps over."""
    return frozenset().union(
        *(
            length_sources(task.map_length)
            for task in definition.tasks
            if task.HasField("map_length")
        )
    )


@dataclass(frozen=True)
class Version:
    """A decoded DAG version, its tasks by id, and the tasks mapped tasks map over."""

    definition: dag_pb2.DagDefinition
    tasks: Mapping[str, dag_pb2.TaskDefinition]
    mapped_over: frozenset[str] = frozenset()


class VersionCache:
    """Decoded DAG versions by content hash (content-addressed, so never stale)."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._versions: OrderedDict[str, Version] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, content_hash: str, load: Callable[[], bytes | None]) -> Version | None:
        """The version with this hash, decoding ``load()`` the first time."""
        with self._lock:
            found = self._versions.get(content_hash)
            if found is not None:
                self._versions.move_to_end(content_hash)
                return found
        blob = load()
        if blob is None:
            return None
        definition = dag_pb2.DagDefinition.FromString(blob)
        version = Version(
            definition,
            {task.task_id: task for task in definition.tasks},
            mapped_over(definition),
        )
        with self._lock:
            self._versions[content_hash] = version
            while len(self._versions) > self._size:
                self._versions.popitem(last=False)
        return version


VERSIONS = VersionCache()
