"""Looking at other DAGs' runs and tasks, from a task (sync) or a trigger (async).

Task processes and triggers never read the database: a count goes to the state service
(TaskService for a task, with its lease; TriggererService for a trigger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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
