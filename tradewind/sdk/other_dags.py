"""Looking at other DAGs' runs and tasks, from a task (sync) or a trigger (async).

Task processes and triggers never read the database: a count goes to the state service
(TaskService for a task, with its lease; TriggererService for a trigger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.proto_enums import DAG_RUN_STATES, TASK_INSTANCE_STATES
from protos.run.v1 import message_pb2 as run_pb2
from tradewind.sdk.exceptions import NoTaskContext


@dataclass(frozen=True, kw_only=True)
class StateQuery:
    """Count a DAG's runs (no task ids nor groups) or its tasks' instances in ``states``."""

    dag_id: str
    states: Sequence[str]
    logical_dates: Sequence[datetime] = ()
    run_ids: Sequence[str] = ()
    task_ids: Sequence[str] = ()
    task_group_ids: Sequence[str] = ()


@dataclass(frozen=True)
class TriggeredRun:
    """A run a task triggered (or reset), as TriggerDagRunOperator learns of it."""

    dag_id: str
    run_id: str
    logical_date: datetime | None
    #: The run id was taken already (and the run was cleared, with reset_dag_run).
    already_existed: bool


def query_message(query: StateQuery) -> run_pb2.StateCountQuery:
    """The contract's message of a count."""
    message = run_pb2.StateCountQuery(
        dag_id=query.dag_id, run_ids=list(query.run_ids), task_ids=list(query.task_ids)
    )
    message.task_group_ids.extend(query.task_group_ids)
    for moment in query.logical_dates:
        message.logical_dates.add().FromDatetime(moment)
    if query.task_ids or query.task_group_ids:
        message.task_instance_states.extend(TASK_INSTANCE_STATES.to_proto(s) for s in query.states)
    else:
        message.dag_run_states.extend(DAG_RUN_STATES.to_proto(s) for s in query.states)
    return message


class TriggerStateReader(Protocol):
    """What triggers may ask of the state service."""

    async def count_states(self, query: StateQuery) -> int:
        """How many runs or task instances match ``query``."""
        ...


_reader: TriggerStateReader | None = None


def install_trigger_state_reader(reader: TriggerStateReader | None) -> None:
    """Set the reader triggers of this process use (the triggerer installs one)."""
    global _reader
    _reader = reader


def trigger_state_reader() -> TriggerStateReader:
    """The reader installed for this process's triggers.

    Raises:
        NoTaskContext: outside a triggerer.

    """
    if _reader is None:
        raise NoTaskContext("no state reader: other DAGs' states are read inside a triggerer")
    return _reader
