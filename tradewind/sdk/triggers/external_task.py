"""Triggers that wait for other DAGs: ``WorkflowTrigger`` and ``DagStateTrigger``, as in Airflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from core.states import TaskInstanceState
from tradewind.sdk.other_dags import StateQuery, trigger_state_reader
from tradewind.sdk.triggers.base import BaseTrigger, TriggerEvent, classpath_of


class WorkflowTrigger(BaseTrigger):
    """Fires when another DAG's tasks (or runs) reach allowed, failed or skipped states.

    Its event is ``{"status": "success" | "failed" | "skipped"}``, what ExternalTaskSensor's
    ``execute_complete`` reads.
    """

    def __init__(
        self,
        external_dag_id: str,
        run_ids: Sequence[str] | None = None,
        external_task_ids: Sequence[str] | None = None,
        external_task_group_id: str | None = None,
        failed_states: Sequence[str] | None = None,
        skipped_states: Sequence[str] | None = None,
        allowed_states: Sequence[str] | None = None,
        poke_interval: float = 2.0,
        soft_fail: bool = False,
        logical_dates: Sequence[datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.external_dag_id = external_dag_id
        self.run_ids = list(run_ids or [])
        self.logical_dates = list(logical_dates or [])
        self.external_task_ids = list(external_task_ids or [])
        self.external_task_group_id = external_task_group_id
        self.failed_states = list(failed_states or [])
        self.skipped_states = list(skipped_states or [])
        self.allowed_states = list(allowed_states or [])
        self.poke_interval = poke_interval
        self.soft_fail = soft_fail

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and what to wait for."""
        return classpath_of(WorkflowTrigger), {
            "external_dag_id": self.external_dag_id,
            "run_ids": self.run_ids,
            "logical_dates": self.logical_dates,
            "external_task_ids": self.external_task_ids,
            "external_task_group_id": self.external_task_group_id,
            "failed_states": self.failed_states,
            "skipped_states": self.skipped_states,
            "allowed_states": self.allowed_states,
            "poke_interval": self.poke_interval,
            "soft_fail": self.soft_fail,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Count every ``poke_interval`` seconds; fire on failure, skip or success."""
        while True:
            if self.failed_states and await self._matching(self.failed_states) > 0:
                yield TriggerEvent({"status": "failed"})
                return
            if self.skipped_states and await self._matching(self.skipped_states) > 0:
                yield TriggerEvent({"status": "skipped"})
                return
            if await self._all_in(self.allowed_states):
                yield TriggerEvent({"status": "success"})
                return
            await asyncio.sleep(self.poke_interval)

    async def _matching(self, states: Sequence[str]) -> int:
        return await trigger_state_reader().count_states(self._query(states))

    async def _all_in(self, states: Sequence[str]) -> bool:
        runs = len(self.run_ids or self.logical_dates)
        matching = await self._matching(states)
        if self.external_task_ids:
            return matching >= runs * len(self.external_task_ids)
        if self.external_task_group_id:
            every_state = [str(s) for s in TaskInstanceState]
            total = await self._matching(every_state)
            return total > 0 and matching >= total
        return matching >= runs

    def _query(self, states: Sequence[str]) -> StateQuery:
        return StateQuery(
            dag_id=self.external_dag_id,
            states=list(states),
            logical_dates=self.logical_dates,
            run_ids=self.run_ids,
            task_ids=self.external_task_ids,
            task_group_ids=[self.external_task_group_id] if self.external_task_group_id else [],
        )


class DagStateTrigger(BaseTrigger):
    """Fires when every named run of a DAG is in one of ``states``.

    Its event is ``(classpath, {"dag_id", "run_ids", "poll_interval", <run id>: <state>})``,
    Airflow 3's shape, which TriggerDagRunOperator's ``execute_complete`` reads.
    """

    def __init__(
        self,
        dag_id: str,
        states: Sequence[str],
        run_ids: Sequence[str] | None = None,
        execution_dates: Sequence[datetime] | None = None,
        poll_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.states = [str(s) for s in states]
        self.run_ids = list(run_ids or [])
        self.execution_dates = list(execution_dates or [])
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the runs to wait for."""
        return classpath_of(DagStateTrigger), {
            "dag_id": self.dag_id,
            "states": self.states,
            "run_ids": self.run_ids,
            "execution_dates": self.execution_dates,
            "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look every ``poll_interval`` seconds until each run is in one of the states."""
        reader = trigger_state_reader()
        while True:
            found: dict[str, str] = {}
            for run_id in self.run_ids:
                for state in self.states:
                    query = StateQuery(dag_id=self.dag_id, states=[state], run_ids=[run_id])
                    if await reader.count_states(query):
                        found[run_id] = state
                        break
            if self.run_ids and len(found) == len(self.run_ids):
                data: dict[str, Any] = {
                    "dag_id": self.dag_id,
                    "run_ids": self.run_ids,
                    "poll_interval": self.poll_interval,
                    **found,
                }
                yield TriggerEvent((classpath_of(DagStateTrigger), data))
                return
            if not self.run_ids and self.execution_dates:
                query = StateQuery(
                    dag_id=self.dag_id, states=self.states, logical_dates=self.execution_dates
                )
                if await reader.count_states(query) >= len(self.execution_dates):
                    yield TriggerEvent(True)
                    return
            await asyncio.sleep(self.poll_interval)
