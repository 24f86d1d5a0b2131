"""Requests about other DAGs, shared by TaskService and TriggererService."""

from __future__ import annotations

from datetime import UTC

from core.proto_enums import DAG_RUN_STATES, TASK_INSTANCE_STATES
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.errors import InvalidArgument
from services.state.store.cross_dag import StateCount
from services.state.validation import enum_name, identifier

#: The most runs or tasks one count may name.
MAX_COUNT_KEYS = 1000


def state_count(query: run_pb2.StateCountQuery, field: str) -> StateCount:
    """The store's view of a StateCountQuery, refusing a malformed one."""
    if not query.logical_dates and not query.run_ids:
        raise InvalidArgument(f"{field}", "names no run: give logical_dates or run_ids")
    for name in ("logical_dates", "run_ids", "task_ids", "task_group_ids"):
        if len(getattr(query, name)) > MAX_COUNT_KEYS:
            raise InvalidArgument(f"{field}.{name}", f"holds more than {MAX_COUNT_KEYS} items")
    counts_tasks = bool(query.task_ids or query.task_group_ids)
    states: list[str]
    if counts_tasks:
        if query.dag_run_states:
            raise InvalidArgument(f"{field}.dag_run_states", "are for counting runs, not tasks")
        states = [
            enum_name(s, TASK_INSTANCE_STATES, f"{field}.task_instance_states")
            for s in query.task_instance_states
        ]
    else:
        if query.task_instance_states:
            raise InvalidArgument(
                f"{field}.task_instance_states", "need task_ids or task_group_ids"
            )
        states = [
            enum_name(s, DAG_RUN_STATES, f"{field}.dag_run_states") for s in query.dag_run_states
        ]
    if not states:
        raise InvalidArgument(f"{field}", "names no state to count")
    return StateCount(
        dag_id=identifier(query.dag_id, f"{field}.dag_id"),
        logical_dates=[s.ToDatetime(tzinfo=UTC) for s in query.logical_dates],
        run_ids=[identifier(r, f"{field}.run_ids") for r in query.run_ids],
        task_ids=[identifier(t, f"{field}.task_ids") for t in query.task_ids],
        task_group_ids=[identifier(g, f"{field}.task_group_ids") for g in query.task_group_ids],
        states=states,
    )
