"""What schedulers do through the state service: claims, schedules, snapshots, transitions.

Every write here is a compare-and-set: on the run's claim (the caller must hold it), on the
run's generation (bumped when a person clears or marks), and on the expected state and try
number of each task instance. Admission to queued happens here, under row locks on the pools
and DAGs concerned, so schedulers never overfill a pool or a DAG's max_active_tasks.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from protos.enums.v1 import transition_pb2 as refusals
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from protos.scheduler.v1 import request_response_pb2 as scheduler_rr
from services.state import enums
from services.state.clock import utcnow
from services.state.convert import (
    SCHEDULING_COLUMNS,
    dag_to_proto,
    run_to_proto,
    ti_scheduling_view,
    timestamp,
    to_datetime,
)
from services.state.db.event_log import record_event
from services.state.db.models import Dag, DagRun, Event, Pool, TaskInstance
from services.state.paging import keyset_page, page_request
from services.state.store.instances import forget_instance, live_instances, touch_instance
from services.state.store.runs import NewRun, create_run
from services.state.store.transitions import (
    TryEnding,
    change_run_state,
    change_ti_state,
    definition_of,
    end_try,
)

SCHEDULER_KIND = "scheduler"

#: Task instance transitions a scheduler may make (person-made ones go through the API).
ALLOWED_TI_TRANSITIONS: dict[str, frozenset[str]] = {
    enums.NONE: frozenset(
        {enums.SCHEDULED, enums.QUEUED, enums.SKIPPED, enums.UPSTREAM_FAILED, enums.REMOVED}
    ),
    enums.SCHEDULED: frozenset(
        {enums.QUEUED, enums.NONE, enums.SKIPPED, enums.UPSTREAM_FAILED, enums.REMOVED}
    ),
    enums.UP_FOR_RETRY: frozenset(
        {enums.SCHEDULED, enums.QUEUED, enums.FAILED, enums.UPSTREAM_FAILED}
    ),
    enums.QUEUED: frozenset({enums.SCHEDULED, enums.FAILED}),
    enums.RUNNING: frozenset({enums.FAILED, enums.UP_FOR_RETRY}),
    enums.RESTARTING: frozenset({enums.NONE}),
}
ALLOWED_RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    enums.RUN_QUEUED: frozenset({enums.RUN_RUNNING, enums.RUN_FAILED}),
    enums.RUN_RUNNING: frozenset({enums.RUN_SUCCESS, enums.RUN_FAILED}),
}


def claim_dag_runs(
    session: Session, scheduler_id: str, max_runs: int, duration: timedelta, now: datetime
) -> tuple[list[DagRun], list[DagRun]]:
    """Renew the caller's claims and take free runs, up to a fair share; return (claims, lost)."""
    touch_instance(session, scheduler_id, SCHEDULER_KIND, now, duration)
    live = max(1, live_instances(session, SCHEDULER_KIND, now))
    active = session.scalar(
        select(func.count()).select_from(DagRun).where(DagRun.state.in_(enums.ACTIVE_RUN_STATES))
    )
    limit = min(max_runs, max(1, math.ceil(int(active or 0) / live)))
    held = list(
        session.scalars(
            select(DagRun)
            .where(DagRun.claimed_by == scheduler_id, DagRun.state.in_(enums.ACTIVE_RUN_STATES))
            .order_by(DagRun.queued_at, DagRun.id)
            .with_for_update()
        )
    )
    keep, lost = held[:limit], held[limit:]
    for run in lost:
        run.claimed_by = None
        run.claim_expires_at = None
    if lost:
        record_event(session, type=event_pb2.EVENT_TYPE_DAG_RUN_CLAIM_RELEASED, time=now)
    free: list[DagRun] = []
    if len(keep) < limit:
        free = list(
            session.scalars(
                select(DagRun)
                .where(
                    DagRun.state.in_(enums.ACTIVE_RUN_STATES),
                    or_(DagRun.claimed_by.is_(None), DagRun.claim_expires_at <= now),
                )
                .order_by(DagRun.queued_at, DagRun.id)
                .limit(limit - len(keep))
                .with_for_update(skip_locked=True)
            )
        )
    expires = now + duration
    for run in [*keep, *free]:
        run.claimed_by = scheduler_id
        run.claim_expires_at = expires
    return [*keep, *free], lost


def release_dag_run_claims(
    session: Session, scheduler_id: str, keys: Sequence[run_pb2.DagRunKey], now: datetime
) -> int:
    """Give back claims so other schedulers take the runs at once.

    With no keys, all of them: the scheduler is stopping, so it no longer counts in the other
    schedulers' fair shares.
    """
    if not keys:
        forget_instance(session, scheduler_id)
    query = select(DagRun).where(DagRun.claimed_by == scheduler_id)
    rows = [
        run
        for run in session.scalars(query.with_for_update())
        if not keys or any(k.dag_id == run.dag_id and k.run_id == run.run_id for k in keys)
    ]
    for run in rows:
        run.claimed_by = None
        run.claim_expires_at = None
    if rows:
        record_event(session, type=event_pb2.EVENT_TYPE_DAG_RUN_CLAIM_RELEASED, time=now)
    return len(rows)


def list_schedulable_dags(
    session: Session, request: scheduler_rr.ListSchedulableDagsRequest
) -> scheduler_rr.ListSchedulableDagsResponse:
    """Unpaused, active DAGs with a schedule that is not exhausted, by dag id."""
    query = select(Dag).where(
        Dag.is_active.is_(True),
        Dag.is_paused.is_(False),
        Dag.has_schedule.is_(True),
        Dag.schedule_exhausted.is_(False),
    )
    found = keyset_page(
        session,
        query,
        Dag.dag_id,
        page_request("ListSchedulableDags", request.page_size, request.page_token),
    )
    page = found.items
    ids = [d.dag_id for d in page]
    active = dict(
        session.execute(
            select(DagRun.dag_id, func.count())
            .where(DagRun.dag_id.in_(ids), DagRun.state.in_(enums.ACTIVE_RUN_STATES))
            .group_by(DagRun.dag_id)
        ).all()
    )
    latest = dict(
        session.execute(
            select(DagRun.dag_id, func.max(DagRun.logical_date))
            .where(DagRun.dag_id.in_(ids), DagRun.run_type == "scheduled")
            .group_by(DagRun.dag_id)
        ).all()
    )
    return scheduler_rr.ListSchedulableDagsResponse(
        dags=[
            scheduler_pb2.SchedulableDag(
                dag=dag_to_proto(d, definition_of(session, d.content_hash)),
                active_runs=int(active.get(d.dag_id, 0)),
                latest_scheduled_logical_date=timestamp(latest.get(d.dag_id)),
            )
            for d in page
        ],
        next_page_token=found.next_page_token,
    )


def dag_definitions(session: Session, hashes: Sequence[str]) -> list[dag_pb2.SerializedDag]:
    """Serialised DAG versions by content hash; unknown hashes are left out."""
    found = []
    for content_hash in dict.fromkeys(hashes):
        try:
            definition = definition_of(session, content_hash)
        except LookupError:
            continue
        found.append(dag_pb2.SerializedDag(definition=definition, content_hash=content_hash))
    return found


def advance_schedule(
    session: Session, advance: scheduler_pb2.ScheduleAdvance, now: datetime
) -> scheduler_pb2.ScheduleAdvanceOutcome:
    """Create a scheduled run and move the DAG's next-run pointer, as one compare-and-set."""
    outcome = scheduler_pb2.ScheduleAdvanceOutcome(dag_id=advance.dag_id)
    dag = session.get(Dag, advance.dag_id, with_for_update=True)
    if dag is None or not dag.is_active:
        outcome.refusal = refusals.TRANSITION_REFUSAL_NOT_FOUND
        return outcome
    if dag.is_paused:
        outcome.refusal = refusals.TRANSITION_REFUSAL_DAG_PAUSED
        return outcome
    expected = to_datetime(advance, "expected_next_logical_date")
    if dag.next_dagrun_logical_date != expected or (
        advance.expected_content_hash and advance.expected_content_hash != dag.content_hash
    ):
        outcome.refusal = refusals.TRANSITION_REFUSAL_STATE_CONFLICT
        return outcome
    if advance.HasField("run"):
        new = advance.run
        content_hash = new.dag_content_hash or dag.content_hash
        exists = session.scalar(
            select(func.count())
            .select_from(DagRun)
            .where(DagRun.dag_id == dag.dag_id, DagRun.run_id == new.run_id)
        )
        try:
            definition = definition_of(session, content_hash)
        except LookupError:
            exists = 1
        if exists:
            outcome.refusal = refusals.TRANSITION_REFUSAL_STATE_CONFLICT
            return outcome
        run = create_run(
            session,
            dag,
            definition,
            content_hash,
            NewRun(
                run_id=new.run_id,
                run_type=enums.RUN_TYPES.name(new.run_type) if new.run_type else "scheduled",
                logical_date=to_datetime(new, "logical_date") or now,
                data_interval_start=to_datetime(new, "data_interval_start"),
                data_interval_end=to_datetime(new, "data_interval_end"),
                conf_json=new.conf_json or "{}",
            ),
            now,
        )
        outcome.dag_run.CopyFrom(run_to_proto(run, {}))
    if advance.HasField("next"):
        dag.next_dagrun_logical_date = to_datetime(advance.next, "logical_date")
        dag.next_dagrun_data_interval_start = to_datetime(advance.next, "data_interval_start")
        dag.next_dagrun_data_interval_end = to_datetime(advance.next, "data_interval_end")
        dag.next_dagrun_create_after = to_datetime(advance.next, "create_after")
        dag.schedule_exhausted = False
    else:
        dag.next_dagrun_logical_date = None
        dag.next_dagrun_data_interval_start = None
        dag.next_dagrun_data_interval_end = None
        dag.next_dagrun_create_after = None
        dag.schedule_exhausted = True
    dag.updated_at = now
    outcome.applied = True
    return outcome


def _claimed(run: DagRun, scheduler_id: str, now: datetime) -> bool:
    return (
        run.claimed_by == scheduler_id
        and run.claim_expires_at is not None
        and run.claim_expires_at > now
    )


def pool_usage(session: Session, names: Sequence[str] | None = None) -> dict[str, tuple[int, int]]:
    """Slots held per pool: (running, queued)."""
    query = (
        select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
        .where(TaskInstance.state.in_(enums.ACTIVE_TI_STATES))
        .group_by(TaskInstance.pool, TaskInstance.state)
    )
    if names is not None:
        query = query.where(TaskInstance.pool.in_(list(names)))
    usage: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pool, state, slots in session.execute(query):
        usage[pool][1 if state == enums.QUEUED else 0] += int(slots or 0)
    return {pool: (running, queued) for pool, (running, queued) in usage.items()}


def pools_with_usage(session: Session) -> list[resource_pb2.Pool]:
    """Every pool with its slot usage."""
    usage = pool_usage(session)
    result = []
    for pool in session.scalars(select(Pool).order_by(Pool.name)):
        running, queued = usage.get(pool.name, (0, 0))
        result.append(
            resource_pb2.Pool(
                name=pool.name,
                slots=pool.slots,
                description=pool.description,
                running_slots=running,
                queued_slots=queued,
                open_slots=-1 if pool.slots < 0 else pool.slots - running - queued,
                include_deferred=pool.include_deferred,
            )
        )
    return result


def _dag_active_counts(
    session: Session, dag_ids: Sequence[str]
) -> tuple[dict[str, int], dict[str, int]]:
    active_tis = dict(
        session.execute(
            select(TaskInstance.dag_id, func.count())
            .where(
                TaskInstance.dag_id.in_(list(dag_ids)),
                TaskInstance.state.in_(enums.ACTIVE_TI_STATES),
            )
            .group_by(TaskInstance.dag_id)
        ).all()
    )
    running_runs = dict(
        session.execute(
            select(DagRun.dag_id, func.count())
            .where(DagRun.dag_id.in_(list(dag_ids)), DagRun.state == enums.RUN_RUNNING)
            .group_by(DagRun.dag_id)
        ).all()
    )
    return active_tis, running_runs


def scheduling_snapshot(
    session: Session, scheduler_id: str, keys: Sequence[run_pb2.DagRunKey], now: datetime
) -> scheduler_rr.GetSchedulingSnapshotResponse:
    """The claimed runs with their task instances, pool usage and DAG concurrency."""
    wanted = sorted({(k.dag_id, k.run_id) for k in keys})
    runs = (
        [
            run
            for run in session.scalars(
                select(DagRun)
                .where(tuple_(DagRun.dag_id, DagRun.run_id).in_(wanted))
                .order_by(DagRun.queued_at, DagRun.id)
            )
            if _claimed(run, scheduler_id, now)
        ]
        if wanted
        else []
    )
    tis_by_run: dict[int, list[Any]] = defaultdict(list)
    if runs:
        # Plain rows of the columns the scheduler needs, not ORM objects: a snapshot of a big
        # run is read on every pass.
        columns = [TaskInstance.__table__.columns[name] for name in SCHEDULING_COLUMNS]
        for ti in session.execute(
            select(*columns)
            .where(TaskInstance.dag_run_id.in_([r.id for r in runs]))
            .order_by(TaskInstance.task_id)
        ):
            tis_by_run[ti.dag_run_id].append(ti)
    # The runs' counts by state follow from the rows just read; no second query.
    counts = {run.id: dict(Counter(ti.state for ti in tis_by_run[run.id])) for run in runs}
    run_dags = sorted({r.dag_id for r in runs})
    active_tis, running_runs = _dag_active_counts(session, run_dags)
    dags = {d.dag_id: d for d in session.scalars(select(Dag).where(Dag.dag_id.in_(run_dags)))}
    cursor = session.scalar(select(func.max(Event.id)))
    return scheduler_rr.GetSchedulingSnapshotResponse(
        dag_runs=[
            scheduler_pb2.DagRunSnapshot(
                dag_run=run_to_proto(run, counts[run.id]),
                task_instances=[ti_scheduling_view(ti) for ti in tis_by_run[run.id]],
            )
            for run in runs
        ],
        pools=pools_with_usage(session),
        dag_concurrency=[
            scheduler_pb2.DagConcurrency(
                dag_id=dag_id,
                active_task_instances=int(active_tis.get(dag_id, 0)),
                max_active_tasks=dags[dag_id].max_active_tasks,
                running_dag_runs=int(running_runs.get(dag_id, 0)),
                max_active_runs=dags[dag_id].max_active_runs,
                is_paused=dags[dag_id].is_paused,
            )
            for dag_id in run_dags
            if dag_id in dags
        ],
        server_time=timestamp(now),
        event_cursor=int(cursor or 0),
    )


class _Admission:
    """Open pool slots and DAG capacity during one batch, with the rows locked."""

    def __init__(self, session: Session, pools: set[str], dag_ids: set[str]) -> None:
        locked_pools = {
            p.name: p
            for p in session.scalars(
                select(Pool)
                .where(Pool.name.in_(sorted(pools)))
                .order_by(Pool.name)
                .with_for_update()
            )
        }
        self.dags = {
            d.dag_id: d
            for d in session.scalars(
                select(Dag)
                .where(Dag.dag_id.in_(sorted(dag_ids)))
                .order_by(Dag.dag_id)
                .with_for_update()
            )
        }
        usage = pool_usage(session, sorted(pools))
        self.open_slots = {
            name: (-1 if pool.slots < 0 else pool.slots - sum(usage.get(name, (0, 0))))
            for name, pool in locked_pools.items()
        }
        self.active_tis, self.running_runs = _dag_active_counts(session, sorted(dag_ids))

    def refuse_queueing(self, ti: TaskInstance) -> int:
        """The refusal for queueing ``ti`` now, or 0 when it may be queued."""
        dag = self.dags.get(ti.dag_id)
        if dag is None:
            return refusals.TRANSITION_REFUSAL_NOT_FOUND
        if dag.is_paused:
            return refusals.TRANSITION_REFUSAL_DAG_PAUSED
        open_slots = self.open_slots.get(ti.pool)
        if open_slots is None or (open_slots >= 0 and open_slots < ti.pool_slots):
            return refusals.TRANSITION_REFUSAL_POOL_FULL
        if self.active_tis.get(ti.dag_id, 0) >= dag.max_active_tasks:
            return refusals.TRANSITION_REFUSAL_DAG_CONCURRENCY_LIMIT
        return 0

    def queued(self, ti: TaskInstance) -> None:
        """Account for ``ti`` having been queued."""
        if self.open_slots.get(ti.pool, -1) >= 0:
            self.open_slots[ti.pool] -= ti.pool_slots
        self.active_tis[ti.dag_id] = self.active_tis.get(ti.dag_id, 0) + 1

    def refuse_running(self, run: DagRun) -> int:
        """The refusal for starting ``run`` now, or 0."""
        dag = self.dags.get(run.dag_id)
        if dag is None:
            return refusals.TRANSITION_REFUSAL_NOT_FOUND
        if self.running_runs.get(run.dag_id, 0) >= dag.max_active_runs:
            return refusals.TRANSITION_REFUSAL_ACTIVE_RUNS_LIMIT
        return 0

    def started(self, run: DagRun) -> None:
        """Account for ``run`` having started."""
        self.running_runs[run.dag_id] = self.running_runs.get(run.dag_id, 0) + 1


def apply_transitions(
    session: Session, request: scheduler_rr.ApplyTransitionsRequest, now: datetime
) -> scheduler_rr.ApplyTransitionsResponse:
    """Apply a batch of compare-and-set transitions in order; refuse stale or over-limit items."""
    run_keys = {(t.key.dag_id, t.key.run_id) for t in request.task_instance_transitions}
    run_keys |= {(t.key.dag_id, t.key.run_id) for t in request.dag_run_transitions}
    dag_ids = sorted({dag_id for dag_id, _ in run_keys})
    runs = (
        {
            (r.dag_id, r.run_id): r
            for r in session.scalars(
                select(DagRun)
                .where(tuple_(DagRun.dag_id, DagRun.run_id).in_(sorted(run_keys)))
                .order_by(DagRun.id)
                .with_for_update()
            )
        }
        if run_keys
        else {}
    )
    tis: dict[tuple[str, str, str], TaskInstance] = {}
    if runs:
        wanted = {
            (t.key.dag_id, t.key.run_id, t.key.task_id) for t in request.task_instance_transitions
        }
        for ti in session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_run_id.in_([r.id for r in runs.values()]))
            .order_by(TaskInstance.id)
            .with_for_update()
        ):
            if (ti.dag_id, ti.run_id, ti.task_id) in wanted:
                tis[(ti.dag_id, ti.run_id, ti.task_id)] = ti
    # As in leasing: the rows are locked now, and what they record must not predate what the
    # transactions this one waited for wrote (a try's end, a run's state).
    now = max(now, utcnow())
    pools = {ti.pool for ti in tis.values()}
    admission = _Admission(session, pools, set(dag_ids))
    response = scheduler_rr.ApplyTransitionsResponse()
    for transition in request.task_instance_transitions:
        key = transition.key
        response.task_instance_outcomes.append(
            _apply_ti(
                session,
                transition,
                runs.get((key.dag_id, key.run_id)),
                tis.get((key.dag_id, key.run_id, key.task_id)),
                request.scheduler_id,
                admission,
                now,
            )
        )
    for run_transition in request.dag_run_transitions:
        response.dag_run_outcomes.append(
            _apply_run(
                session,
                run_transition,
                runs.get((run_transition.key.dag_id, run_transition.key.run_id)),
                request.scheduler_id,
                admission,
                now,
            )
        )
    return response


def _refused(
    refusal: int, ti: TaskInstance | None = None, run: DagRun | None = None
) -> scheduler_pb2.TransitionOutcome:
    outcome = scheduler_pb2.TransitionOutcome(applied=False, refusal=refusal)  # type: ignore[arg-type]
    if ti is not None:
        outcome.actual_task_instance_state = enums.TI_STATES.value(ti.state)
        outcome.actual_try_number = ti.try_number
    if run is not None:
        outcome.actual_dag_run_state = enums.RUN_STATES.value(run.state)
    return outcome


def _apply_ti(
    session: Session,
    transition: scheduler_pb2.TaskInstanceTransition,
    run: DagRun | None,
    ti: TaskInstance | None,
    scheduler_id: str,
    admission: _Admission,
    now: datetime,
) -> scheduler_pb2.TransitionOutcome:
    if run is None or ti is None:
        return _refused(refusals.TRANSITION_REFUSAL_NOT_FOUND)
    if not _claimed(run, scheduler_id, now):
        return _refused(refusals.TRANSITION_REFUSAL_RUN_NOT_CLAIMED, ti)
    if run.generation != transition.expected_run_generation:
        return _refused(refusals.TRANSITION_REFUSAL_STALE_GENERATION, ti)
    expected = enums.TI_STATES.name(transition.expected_state)
    new = enums.TI_STATES.name(transition.new_state)
    if ti.state != expected or ti.try_number != transition.expected_try_number:
        return _refused(refusals.TRANSITION_REFUSAL_STATE_CONFLICT, ti)
    if new not in ALLOWED_TI_TRANSITIONS.get(ti.state, frozenset()):
        return _refused(refusals.TRANSITION_REFUSAL_ILLEGAL_TRANSITION, ti)
    if ti.state in enums.LEASED_STATES:
        # Ending a try the executor never reported: only once its lease has really expired,
        # unless it ran out of time (timed out), which the scheduler enforces regardless.
        outcome = enums.OUTCOMES.name(transition.outcome) if transition.outcome else "lease_expired"
        if (
            outcome == "lease_expired"
            and ti.lease_expires_at is not None
            and ti.lease_expires_at > now
        ):
            return _refused(refusals.TRANSITION_REFUSAL_STATE_CONFLICT, ti)
        end_try(
            session,
            ti,
            TryEnding(outcome=outcome, end_date=now, error_message=transition.reason),
            now,
            new_state=new,
            next_retry_at=to_datetime(transition, "next_retry_at"),
        )
        return scheduler_pb2.TransitionOutcome(applied=True)
    if new == enums.QUEUED:
        refusal = admission.refuse_queueing(ti)
        if refusal:
            return _refused(refusal, ti)
        admission.queued(ti)
        ti.queued_at = now
    if new in (enums.SKIPPED, enums.UPSTREAM_FAILED, enums.FAILED, enums.REMOVED):
        ti.end_date = now
    if new == enums.UP_FOR_RETRY or transition.HasField("next_retry_at"):
        ti.next_retry_at = to_datetime(transition, "next_retry_at")
    change_ti_state(session, ti, new, now)
    return scheduler_pb2.TransitionOutcome(applied=True)


def _apply_run(
    session: Session,
    transition: scheduler_pb2.DagRunTransition,
    run: DagRun | None,
    scheduler_id: str,
    admission: _Admission,
    now: datetime,
) -> scheduler_pb2.TransitionOutcome:
    if run is None:
        return _refused(refusals.TRANSITION_REFUSAL_NOT_FOUND)
    if not _claimed(run, scheduler_id, now):
        return _refused(refusals.TRANSITION_REFUSAL_RUN_NOT_CLAIMED, run=run)
    if run.generation != transition.expected_run_generation:
        return _refused(refusals.TRANSITION_REFUSAL_STALE_GENERATION, run=run)
    expected = enums.RUN_STATES.name(transition.expected_state)
    new = enums.RUN_STATES.name(transition.new_state)
    if run.state != expected:
        return _refused(refusals.TRANSITION_REFUSAL_STATE_CONFLICT, run=run)
    if new not in ALLOWED_RUN_TRANSITIONS.get(run.state, frozenset()):
        return _refused(refusals.TRANSITION_REFUSAL_ILLEGAL_TRANSITION, run=run)
    if new == enums.RUN_RUNNING:
        refusal = admission.refuse_running(run)
        if refusal:
            return _refused(refusal, run=run)
        admission.started(run)
    change_run_state(session, run, new, now)
    return scheduler_pb2.TransitionOutcome(applied=True)
