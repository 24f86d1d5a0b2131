"""A scheduler's batch of transitions, applied in one transaction with compare-and-set.

Every item is checked against the caller's claim on its run, the run's generation (bumped when
a person clears or marks) and the expected state and try number; queueing and starting also
pass :class:`~services.state.store.admission.Admission`. Per run, a start comes first, then
the run's task instance transitions (only in a running run), then an end, which holds only if
every task instance transition of that run in the batch held: a run never ends on a decision
whose premises were refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.mapping import DEFAULT_MAX_MAP_LENGTH
from core.states import (
    FAILURES,
    FINISHED,
    LEASED,
    WAITING,
    DagRunState,
    TaskInstanceState,
    TryOutcome,
)
from core.transitions import scheduler_may_move, scheduler_may_move_run
from services.state.clock import utcnow
from services.state.db.models import DagRun, TaskInstance
from services.state.store.admission import CAPACITY_REFUSALS, Admission, Refusal
from services.state.store.deferral import time_out_deferred
from services.state.store.expansion import expand_mapped_task
from services.state.store.transitions import TryEnding, change_run_state, change_ti_state, end_try

RunKey = tuple[str, str]
M = TypeVar("M", DagRun, TaskInstance)


@dataclass(frozen=True, kw_only=True)
class TaskInstanceTransition:
    """A compare-and-set on one task instance, as a scheduler asks for it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    expected_state: TaskInstanceState
    expected_try_number: int
    new_state: TaskInstanceState
    expected_run_generation: int
    #: For a try the scheduler ends (lease expired, timed out); None otherwise.
    outcome: TryOutcome | None = None
    reason: str = ""
    next_retry_at: datetime | None = None
    #: Expand the unexpanded instance of a mapped task into this many map indexes (0: no).
    expand_to: int = 0

    @property
    def run_key(self) -> RunKey:
        """The run's (dag_id, run_id)."""
        return self.dag_id, self.run_id


@dataclass(frozen=True, kw_only=True)
class RunTransition:
    """A compare-and-set on one run."""

    dag_id: str
    run_id: str
    expected_state: DagRunState
    new_state: DagRunState
    expected_run_generation: int

    @property
    def run_key(self) -> RunKey:
        """The run's (dag_id, run_id)."""
        return self.dag_id, self.run_id


@dataclass(frozen=True)
class Outcome:
    """Whether one transition held, and if not, why and what the row holds now."""

    applied: bool
    refusal: Refusal | None = None
    #: The task instance's or run's state after the batch (on a refusal).
    actual_state: str | None = None
    actual_try_number: int | None = None


APPLIED = Outcome(applied=True)


def _refused(
    refusal: Refusal, ti: TaskInstance | None = None, run: DagRun | None = None
) -> Outcome:
    if ti is not None:
        return Outcome(False, refusal, ti.state, ti.try_number)
    return Outcome(False, refusal, run.state if run is not None else None)


def claimed_by(run: DagRun, scheduler_id: str, now: datetime) -> bool:
    """Whether ``scheduler_id`` holds a live claim on ``run``."""
    return (
        run.claimed_by == scheduler_id
        and run.claim_expires_at is not None
        and run.claim_expires_at > now
    )


def _locked(
    session: Session, model: type[M], columns: tuple[Any, ...], keys: Sequence[tuple[Any, ...]]
) -> list[M]:
    """The rows of ``model`` whose ``columns`` hold one of ``keys``, locked in id order.

    Keys are grouped by all but their last part (``a = x AND b = y AND c IN (...)`` per
    group): an index on the columns then serves each group with one scan, where a row-value
    IN list would plan one scan per key. Only the rows named are locked, so a transition on
    one map index never waits for executors completing the task's other instances.
    """
    if not keys:
        return []
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for key in keys:
        groups[key[:-1]].append(key[-1])
    match = or_(
        *(
            and_(
                *(column == value for column, value in zip(columns[:-1], prefix, strict=True)),
                columns[-1].in_(rest),
            )
            for prefix, rest in groups.items()
        )
    )
    query = select(model).where(match).order_by(model.id)
    return list(session.scalars(query.with_for_update()))


def apply_transitions(
    session: Session,
    scheduler_id: str,
    ti_transitions: Sequence[TaskInstanceTransition],
    run_transitions: Sequence[RunTransition],
    now: datetime,
    *,
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
) -> tuple[list[Outcome], list[Outcome]]:
    """Apply a batch; return the outcomes of the task instance and run transitions, in order.

    Only the rows the transitions name are locked (with the pools and DAGs they admit into),
    so a transition on a big run never waits for executors completing its other tries.
    """
    run_keys = sorted({t.run_key for t in ti_transitions} | {t.run_key for t in run_transitions})
    runs = {
        (r.dag_id, r.run_id): r
        for r in _locked(session, DagRun, (DagRun.dag_id, DagRun.run_id), run_keys)
    }
    wanted = sorted(
        {(runs[t.run_key].id, t.task_id, t.map_index) for t in ti_transitions if t.run_key in runs}
    )
    columns = (TaskInstance.dag_run_id, TaskInstance.task_id, TaskInstance.map_index)
    tis = {
        (ti.dag_run_id, ti.task_id, ti.map_index): ti
        for ti in _locked(session, TaskInstance, columns, wanted)
    }
    # As in leasing: the rows are locked now, and what they record must not predate what the
    # transactions this one waited for wrote (a try's end, a run's state).
    now = max(now, utcnow())
    admission = Admission(session, {ti.pool for ti in tis.values()}, {k[0] for k in run_keys})

    def ti_of(item: TaskInstanceTransition) -> TaskInstance | None:
        run = runs.get(item.run_key)
        return tis.get((run.id, item.task_id, item.map_index)) if run is not None else None

    run_outcomes: dict[int, Outcome] = {}
    for index, item in enumerate(run_transitions):
        if item.expected_state == DagRunState.QUEUED:
            run_outcomes[index] = _apply_run(
                item, runs.get(item.run_key), scheduler_id, admission, session, now
            )
    ti_outcomes = [
        _apply_ti(
            session,
            item,
            runs.get(item.run_key),
            ti_of(item),
            scheduler_id,
            admission,
            now,
            max_map_length,
        )
        for item in ti_transitions
    ]
    unsettled = {
        t.run_key for t, o in zip(ti_transitions, ti_outcomes, strict=True) if not o.applied
    }
    for index, item in enumerate(run_transitions):
        if index in run_outcomes:
            continue
        run = runs.get(item.run_key)
        if item.run_key in unsettled and item.new_state in (
            DagRunState.SUCCESS,
            DagRunState.FAILED,
        ):
            run_outcomes[index] = _refused(Refusal.STATE_CONFLICT, run=run)
        else:
            run_outcomes[index] = _apply_run(item, run, scheduler_id, admission, session, now)
    return ti_outcomes, [run_outcomes[i] for i in range(len(run_transitions))]


def _apply_ti(
    session: Session,
    item: TaskInstanceTransition,
    run: DagRun | None,
    ti: TaskInstance | None,
    scheduler_id: str,
    admission: Admission,
    now: datetime,
    max_map_length: int,
) -> Outcome:
    if run is None or ti is None:
        return _refused(Refusal.NOT_FOUND)
    if not claimed_by(run, scheduler_id, now):
        return _refused(Refusal.RUN_NOT_CLAIMED, ti)
    if run.generation != item.expected_run_generation:
        return _refused(Refusal.STALE_GENERATION, ti)
    if ti.state != item.expected_state or ti.try_number != item.expected_try_number:
        return _refused(Refusal.STATE_CONFLICT, ti)
    if item.expand_to:
        return _expand(session, item, run, ti, now, max_map_length)
    if not scheduler_may_move(ti.state, item.new_state):
        return _refused(Refusal.ILLEGAL_TRANSITION, ti)
    if run.state != DagRunState.RUNNING:
        return _refused(Refusal.RUN_NOT_RUNNING, ti)
    if ti.state in LEASED:
        # Ending a try the executor never reported: only once its lease has really expired,
        # unless it ran out of time (timed out), which the scheduler enforces regardless.
        outcome = item.outcome or TryOutcome.LEASE_EXPIRED
        if (
            outcome == TryOutcome.LEASE_EXPIRED
            and ti.lease_expires_at is not None
            and ti.lease_expires_at > now
        ):
            return _refused(Refusal.STATE_CONFLICT, ti)
        end_try(
            session,
            ti,
            TryEnding(outcome=outcome, end_date=now, error_message=item.reason),
            now,
            new_state=item.new_state,
            next_retry_at=item.next_retry_at,
        )
        return APPLIED
    if ti.state == TaskInstanceState.DEFERRED:
        # Only a trigger timeout moves a deferred instance on; its event may have come first.
        if ti.trigger_timeout is None or ti.trigger_timeout > now:
            return _refused(Refusal.STATE_CONFLICT, ti)
        time_out_deferred(session, ti, now)
        return APPLIED
    if item.new_state == TaskInstanceState.QUEUED:
        refusal = admission.refuse_queueing(ti.dag_id, ti.pool, ti.pool_slots)
        if refusal is not None:
            if refusal in CAPACITY_REFUSALS and ti.state == TaskInstanceState.NONE:
                # Its dependencies are met: it waits for capacity in scheduled, as in Airflow.
                change_ti_state(session, ti, TaskInstanceState.SCHEDULED, now)
            return _refused(refusal, ti)
        admission.queued(ti.dag_id, ti.pool, ti.pool_slots)
        ti.queued_at = now
    if item.new_state in FINISHED:
        ti.end_date = now
    if item.new_state in FAILURES and item.reason:
        ti.error_message = item.reason
    if item.new_state == TaskInstanceState.UP_FOR_RETRY or item.next_retry_at is not None:
        ti.next_retry_at = item.next_retry_at
    change_ti_state(session, ti, item.new_state, now)
    return APPLIED


def _expand(
    session: Session,
    item: TaskInstanceTransition,
    run: DagRun,
    ti: TaskInstance,
    now: datetime,
    max_map_length: int,
) -> Outcome:
    """Expand a mapped task's unexpanded instance, as the scheduler decided."""
    if item.new_state != ti.state or ti.state not in WAITING or ti.map_index >= 0:
        return _refused(Refusal.ILLEGAL_TRANSITION, ti)
    if not 0 < item.expand_to <= max_map_length:
        return _refused(Refusal.ILLEGAL_TRANSITION, ti)
    if run.state != DagRunState.RUNNING:
        return _refused(Refusal.RUN_NOT_RUNNING, ti)
    expand_mapped_task(session, run, ti, item.expand_to, now)
    return APPLIED


def _apply_run(
    item: RunTransition,
    run: DagRun | None,
    scheduler_id: str,
    admission: Admission,
    session: Session,
    now: datetime,
) -> Outcome:
    if run is None:
        return _refused(Refusal.NOT_FOUND)
    if not claimed_by(run, scheduler_id, now):
        return _refused(Refusal.RUN_NOT_CLAIMED, run=run)
    if run.generation != item.expected_run_generation:
        return _refused(Refusal.STALE_GENERATION, run=run)
    if run.state != item.expected_state:
        return _refused(Refusal.STATE_CONFLICT, run=run)
    if not scheduler_may_move_run(run.state, item.new_state):
        return _refused(Refusal.ILLEGAL_TRANSITION, run=run)
    if item.new_state == DagRunState.RUNNING:
        refusal = admission.refuse_running(run.dag_id)
        if refusal is not None:
            return _refused(refusal, run=run)
        admission.started(run.dag_id)
    change_run_state(session, run, item.new_state, now)
    return APPLIED
