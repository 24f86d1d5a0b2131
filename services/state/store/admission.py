"""Admission under the limits: pools, max_active_tasks, pauses and max_active_runs.

An :class:`Admission` locks the rows of the pools and DAGs a batch of transitions touches and
then accounts, item by item, for what the batch has admitted, so that no two schedulers ever
overfill a pool or a DAG.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.states import ACTIVE, DagRunState
from services.state.db.models import Dag, DagRun, Pool, TaskInstance
from services.state.store.pools import UNLIMITED_SLOTS, pool_usages


class Refusal(StrEnum):
    """Why the state service refused one transition (the contract's TransitionRefusal)."""

    STATE_CONFLICT = "state_conflict"
    RUN_NOT_CLAIMED = "run_not_claimed"
    POOL_FULL = "pool_full"
    DAG_CONCURRENCY_LIMIT = "dag_concurrency_limit"
    ACTIVE_RUNS_LIMIT = "active_runs_limit"
    ILLEGAL_TRANSITION = "illegal_transition"
    NOT_FOUND = "not_found"
    DAG_PAUSED = "dag_paused"
    STALE_GENERATION = "stale_generation"
    RUN_NOT_RUNNING = "run_not_running"


#: Refusals after which a task instance waits for capacity rather than for a new decision.
CAPACITY_REFUSALS = frozenset(
    {Refusal.POOL_FULL, Refusal.DAG_CONCURRENCY_LIMIT, Refusal.DAG_PAUSED}
)


def dag_active_counts(
    session: Session, dag_ids: Collection[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Per DAG: its active task instances (queued, running) and its running runs."""
    ids = sorted(dag_ids)
    active_tis = dict(
        session.execute(
            select(TaskInstance.dag_id, func.count())
            .where(TaskInstance.dag_id.in_(ids), TaskInstance.state.in_(ACTIVE))
            .group_by(TaskInstance.dag_id)
        ).all()
    )
    running_runs = dict(
        session.execute(
            select(DagRun.dag_id, func.count())
            .where(DagRun.dag_id.in_(ids), DagRun.state == DagRunState.RUNNING)
            .group_by(DagRun.dag_id)
        ).all()
    )
    return active_tis, running_runs


class Admission:
    """Open pool slots and DAG capacity during one batch, with their rows locked."""

    def __init__(self, session: Session, pools: Collection[str], dag_ids: Collection[str]) -> None:
        locked = list(
            session.scalars(
                select(Pool)
                .where(Pool.name.in_(sorted(pools)))
                .order_by(Pool.name)
                .with_for_update()
            )
        )
        self.dags = {
            d.dag_id: d
            for d in session.scalars(
                select(Dag)
                .where(Dag.dag_id.in_(sorted(dag_ids)))
                .order_by(Dag.dag_id)
                .with_for_update()
            )
        }
        self.open_slots = {usage.name: usage.open_slots for usage in pool_usages(session, locked)}
        self.active_tis, self.running_runs = dag_active_counts(session, dag_ids)

    def refuse_queueing(self, dag_id: str, pool: str, pool_slots: int) -> Refusal | None:
        """Why a task instance of ``dag_id`` taking ``pool_slots`` of ``pool`` may not queue now."""
        dag = self.dags.get(dag_id)
        if dag is None:
            return Refusal.NOT_FOUND
        if dag.is_paused:
            return Refusal.DAG_PAUSED
        left = self.open_slots.get(pool)
        if left is None or (left != UNLIMITED_SLOTS and left < pool_slots):
            return Refusal.POOL_FULL
        if self.active_tis.get(dag_id, 0) >= dag.max_active_tasks:
            return Refusal.DAG_CONCURRENCY_LIMIT
        return None

    def queued(self, dag_id: str, pool: str, pool_slots: int) -> None:
        """Account for a task instance having been queued."""
        if self.open_slots.get(pool, UNLIMITED_SLOTS) != UNLIMITED_SLOTS:
            self.open_slots[pool] -= pool_slots
        self.active_tis[dag_id] = self.active_tis.get(dag_id, 0) + 1

    def refuse_running(self, dag_id: str) -> Refusal | None:
        """Why a run of ``dag_id`` may not start now."""
        dag = self.dags.get(dag_id)
        if dag is None:
            return Refusal.NOT_FOUND
        if self.running_runs.get(dag_id, 0) >= dag.max_active_runs:
            return Refusal.ACTIVE_RUNS_LIMIT
        return None

    def started(self, dag_id: str) -> None:
        """Account for a run having started."""
        self.running_runs[dag_id] = self.running_runs.get(dag_id, 0) + 1
