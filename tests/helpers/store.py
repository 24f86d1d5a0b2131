"""Driving the state store directly, as plain functions on a real database (no gRPC)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.states import DagRunState, TaskInstanceState
from services.state.db import models
from services.state.db.engine import Database
from services.state.housekeeping import ensure_default_pool
from services.state.store import apply, runs, scheduling
from services.state.store.admission import Refusal
from services.state.store.apply import Outcome, RunTransition, TaskInstanceTransition
from services.state.store.dag_files import store_dag
from tests.helpers.dags import make_dag

#: Near the real clock: writes read it again once their rows are locked.
NOW = datetime.now(UTC).replace(microsecond=0)
SCHEDULER = "scheduler-1"
State = TaskInstanceState


@dataclass
class Run:
    """A triggered run, claimed by SCHEDULER."""

    database: Database
    dag_id: str
    run_id: str
    generation: int = 0

    def tis(self, *task_ids: str, to: State, frm: State = State.NONE, tries: int = 0) -> list[Any]:
        return [
            TaskInstanceTransition(
                dag_id=self.dag_id,
                run_id=self.run_id,
                task_id=task_id,
                expected_state=frm,
                expected_try_number=tries,
                new_state=to,
                expected_run_generation=self.generation,
            )
            for task_id in task_ids
        ]

    def run_move(self, frm: DagRunState, to: DagRunState) -> RunTransition:
        return RunTransition(
            dag_id=self.dag_id,
            run_id=self.run_id,
            expected_state=frm,
            new_state=to,
            expected_run_generation=self.generation,
        )

    def start(self) -> RunTransition:
        return self.run_move(DagRunState.QUEUED, DagRunState.RUNNING)

    def apply(
        self,
        tis: Sequence[TaskInstanceTransition] = (),
        run_moves: Sequence[RunTransition] = (),
        *,
        scheduler: str = SCHEDULER,
        now: datetime = NOW,
    ) -> tuple[list[Outcome], list[Outcome]]:
        return self.database.run_write(
            lambda s: apply.apply_transitions(s, scheduler, tis, run_moves, now)
        )

    def states(self) -> dict[str, str]:
        return dict(
            self.database.run_write(
                lambda s: s.execute(
                    select(models.TaskInstance.task_id, models.TaskInstance.state).where(
                        models.TaskInstance.dag_id == self.dag_id,
                        models.TaskInstance.run_id == self.run_id,
                    )
                ).all()
            )
        )

    def run_state(self) -> str | None:
        return self.database.run_write(
            lambda s: s.scalar(
                select(models.DagRun.state).where(
                    models.DagRun.dag_id == self.dag_id, models.DagRun.run_id == self.run_id
                )
            )
        )


def register(database: Database, dag_id: str, tasks: dict[str, list[str]], **options: Any) -> None:
    def write(session: Any) -> None:
        ensure_default_pool(session)
        store_dag(session, make_dag(dag_id, tasks, **options), NOW)

    database.run_write(write)


def triggered(database: Database, dag_id: str, run_id: str = "r1", *, claim: bool = True) -> Run:
    database.run_write(
        lambda s: runs.trigger_dag_run(
            s,
            dag_id,
            run_id=run_id,
            logical_date=NOW,
            conf_json="{}",
            note="",
            request_id="",
            now=NOW,
        )
    )
    if claim:
        database.run_write(
            lambda s: scheduling.claim_dag_runs(s, SCHEDULER, 100, timedelta(days=1), NOW)
        )
    return Run(database, dag_id, run_id)


def refusals(outcomes: Sequence[Outcome]) -> list[Refusal | None]:
    return [o.refusal for o in outcomes]
