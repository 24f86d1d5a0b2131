"""Deferred task instances and their triggers: deferring, trigger leases, resuming.

A try that defers leaves its trigger here (classpath and kwargs). Triggerer replicas lease the
triggers with expiry and fair shares, as schedulers claim runs; a trigger whose replica died is
free again once its lease expires. A trigger's outcome resumes its task instance once: the
instance moves from deferred to scheduled with where to resume, and the trigger row goes
(leaving deferred drops it), so a repeated or late outcome finds nothing to resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.deferral import (
    TRIGGER_FAIL_METHOD,
    TriggerFailureReason,
    failure_kwargs,
    fair_share,
    resumed_kwargs,
    trigger_timeout_at,
)
from core.states import TaskInstanceState
from protos.enums.v1 import event_pb2
from services.state.db.event_log import record_event
from services.state.db.models import DagRun, TaskInstance, TaskInstanceTry, Trigger, WatcherTrigger
from services.state.store.instances import forget_instance, live_instances, touch_instance
from services.state.store.leases import lease_round
from services.state.store.transitions import change_ti_state, task_definition, version_of
from services.state.store.watchers import LeasedWatcher, leased_watchers, reconcile_watchers

TRIGGERER_KIND = "triggerer"


@dataclass(frozen=True, kw_only=True)
class Deferral:
    """What a deferring try asks for (the contract's TryDeferral)."""

    trigger_classpath: str
    trigger_kwargs_json: str
    next_method: str
    next_kwargs_json: str = ""
    timeout: timedelta | None = None


def defer_try(session: Session, ti: TaskInstance, deferral: Deferral, now: datetime) -> Trigger:
    """Store the trigger of a task instance that just moved to deferred."""
    run = session.get(DagRun, ti.dag_run_id)
    task = task_definition(session, run, ti.task_id) if run is not None else None
    execution_timeout = (
        task.execution_timeout.ToTimedelta()
        if task is not None and task.HasField("execution_timeout")
        else None
    )
    started = session.scalar(
        select(TaskInstanceTry.start_date).where(
            TaskInstanceTry.task_instance_id == ti.id, TaskInstanceTry.try_number == ti.try_number
        )
    )
    ti.next_method = deferral.next_method
    ti.next_kwargs_json = deferral.next_kwargs_json
    ti.trigger_timeout = trigger_timeout_at(
        now, deferral.timeout, started or ti.start_date, execution_timeout
    )
    stale = session.scalar(select(Trigger).where(Trigger.task_instance_id == ti.id))
    if stale is not None:
        session.delete(stale)
        session.flush()
    trigger = Trigger(
        task_instance_id=ti.id,
        try_number=ti.try_number,
        classpath=deferral.trigger_classpath,
        kwargs_json=deferral.trigger_kwargs_json or "{}",
        created_at=now,
    )
    session.add(trigger)
    return trigger


def resume_deferred(
    session: Session, ti: TaskInstance, next_method: str, next_kwargs_json: str, now: datetime
) -> None:
    """Move a deferred task instance to scheduled, to resume in ``next_method``."""
    ti.next_method = next_method
    ti.next_kwargs_json = next_kwargs_json
    change_ti_state(session, ti, TaskInstanceState.SCHEDULED, now)


def time_out_deferred(session: Session, ti: TaskInstance, now: datetime) -> None:
    """Resume a deferred task instance whose trigger timed out, to fail."""
    resume_deferred(
        session, ti, TRIGGER_FAIL_METHOD, failure_kwargs(TriggerFailureReason.TRIGGER_TIMEOUT), now
    )


@dataclass(frozen=True)
class LeasedTrigger:
    """A trigger leased to a triggerer, with its task instance."""

    trigger: Trigger
    ti: TaskInstance
    relative_fileloc: str


@dataclass(frozen=True)
class TriggerSync:
    """What a triggerer learns from a sync: new triggers, lost ones, its lease's expiry."""

    leased: list[LeasedTrigger]
    lost: list[int]
    expires_at: datetime
    leased_watchers: list[LeasedWatcher] = field(default_factory=list)
    lost_watchers: list[int] = field(default_factory=list)


def sync_triggers(
    session: Session,
    triggerer_id: str,
    held_ids: Sequence[int],
    capacity: int,
    duration: timedelta,
    now: datetime,
    held_watcher_ids: Sequence[int] = (),
) -> TriggerSync:
    """Renew a triggerer's leases; lease free triggers and asset watchers.

    Each up to the caller's fair share of them.
    """
    touch_instance(session, triggerer_id, TRIGGERER_KIND, now, duration)
    live = live_instances(session, TRIGGERER_KIND, now)
    total = session.scalar(select(func.count()).select_from(Trigger)) or 0
    share = fair_share(int(total), live, capacity)
    expires = now + duration
    triggers = lease_round(session, Trigger, triggerer_id, held_ids, share, expires, now)
    watcher_total = reconcile_watchers(session, now)
    watcher_share = fair_share(watcher_total, live, capacity)
    watchers = lease_round(
        session, WatcherTrigger, triggerer_id, held_watcher_ids, watcher_share, expires, now
    )
    if triggers.released or watchers.released:
        record_event(session, type=event_pb2.EVENT_TYPE_TRIGGER_LEASES_RELEASED, time=now)
    return TriggerSync(
        _with_task_instances(session, triggers.leased),
        triggers.lost,
        expires,
        leased_watchers(session, watchers.leased),
        watchers.lost,
    )


def _with_task_instances(session: Session, triggers: Sequence[Trigger]) -> list[LeasedTrigger]:
    if not triggers:
        return []
    tis = {
        ti.id: ti
        for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.id.in_([t.task_instance_id for t in triggers]))
        )
    }
    runs = {
        run.id: run
        for run in session.scalars(
            select(DagRun).where(DagRun.id.in_({ti.dag_run_id for ti in tis.values()}))
        )
    }
    leased = []
    for trigger in triggers:
        ti = tis[trigger.task_instance_id]
        run = runs.get(ti.dag_run_id)
        fileloc = (
            version_of(session, run.dag_content_hash).definition.relative_fileloc
            if run is not None
            else ""
        )
        leased.append(LeasedTrigger(trigger, ti, fileloc))
    return leased


@dataclass(frozen=True, kw_only=True)
class TriggerOutcome:
    """A trigger's first event (its payload as JSON) or its failure."""

    trigger_id: int
    event_payload_json: str | None = None
    failure_message: str = ""
    failure_traceback: str = ""


def fire_triggers(
    session: Session, triggerer_id: str, outcomes: Sequence[TriggerOutcome], now: datetime
) -> list[int]:
    """Resume the task instances of triggers the caller holds; return the triggers resumed."""
    ids = sorted({o.trigger_id for o in outcomes})
    if not ids:
        return []
    triggers = {
        t.id: t
        for t in session.scalars(
            select(Trigger).where(Trigger.id.in_(ids)).order_by(Trigger.id).with_for_update()
        )
    }
    # One locked read of the task instances for the whole batch, not one per trigger.
    owned = [t.task_instance_id for t in triggers.values() if t.lease_owner == triggerer_id]
    tis = {
        ti.id: ti
        for ti in session.scalars(
            select(TaskInstance)
            .where(TaskInstance.id.in_(owned))
            .order_by(TaskInstance.id)
            .with_for_update()
        )
    }
    resumed = []
    for outcome in outcomes:
        trigger = triggers.pop(outcome.trigger_id, None)
        if trigger is None or trigger.lease_owner != triggerer_id:
            continue
        ti = tis.get(trigger.task_instance_id)
        if (
            ti is None
            or ti.state != TaskInstanceState.DEFERRED
            or ti.try_number != trigger.try_number
        ):
            continue
        if outcome.event_payload_json is not None:
            kwargs = resumed_kwargs(ti.next_kwargs_json, outcome.event_payload_json)
            resume_deferred(session, ti, ti.next_method, kwargs, now)
        else:
            kwargs = failure_kwargs(
                TriggerFailureReason.TRIGGER_FAILURE,
                outcome.failure_message,
                outcome.failure_traceback,
            )
            resume_deferred(session, ti, TRIGGER_FAIL_METHOD, kwargs, now)
        resumed.append(outcome.trigger_id)
    return resumed


def release_triggers(
    session: Session,
    triggerer_id: str,
    trigger_ids: Sequence[int],
    now: datetime,
    watcher_ids: Sequence[int] = (),
) -> int:
    """Give trigger and watcher leases back.

    With no ids, all of them: the triggerer is stopping.
    """
    released = 0
    for model, ids in ((Trigger, trigger_ids), (WatcherTrigger, watcher_ids)):
        if (trigger_ids or watcher_ids) and not ids:
            continue
        query = update(model).where(model.lease_owner == triggerer_id)
        if ids:
            query = query.where(model.id.in_(list(ids)))
        result = session.execute(query.values(lease_owner=None, lease_expires_at=None))
        released += int(result.rowcount or 0)  # type: ignore[attr-defined]
    if not trigger_ids and not watcher_ids:
        forget_instance(session, triggerer_id)
    if released:
        record_event(session, type=event_pb2.EVENT_TYPE_TRIGGER_LEASES_RELEASED, time=now)
    return released


def trigger_of(session: Session, ti: TaskInstance) -> Trigger | None:
    """The trigger a deferred task instance waits on."""
    return session.scalar(select(Trigger).where(Trigger.task_instance_id == ti.id))


def triggers_of(session: Session, tis: Sequence[TaskInstance]) -> dict[int, Trigger]:
    """The triggers of the deferred ones among ``tis``, by task instance id."""
    ids = [ti.id for ti in tis if ti.state == TaskInstanceState.DEFERRED]
    if not ids:
        return {}
    rows = session.scalars(select(Trigger).where(Trigger.task_instance_id.in_(ids)))
    return {row.task_instance_id: row for row in rows}
