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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from core.states import RUN_ACTIVE, DagRunType
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.state.db.event_log import record_event
from services.state.db.models import Dag, DagRun, Event, TaskInstance
from services.state.store.admission import Refusal, dag_active_counts
from services.state.store.apply import claimed_by
from services.state.store.assets import QueuedEvent, queued_events
from services.state.store.instances import forget_instance, live_instances, touch_instance
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.partitions import (
    PendingPartition,
    QueuedPartitionEvent,
    pending_partitions,
    queued_partition_events,
)
from services.state.store.pools import PoolUsage, all_pool_usages
from services.state.store.runs import NewRun, create_run
from services.state.store.transitions import (
    definition_of,
)

SCHEDULER_KIND = "scheduler"
RunKey = tuple[str, str]

#: The task instance columns a scheduling snapshot carries (the scheduler decides on them).
SCHEDULING_COLUMNS = (
    "dag_run_id",
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "state",
    "try_number",
    "max_tries",
    "pool",
    "pool_slots",
    "priority_weight",
    "start_date",
    "end_date",
    "lease_expires_at",
    "next_retry_at",
    "trigger_timeout",
    "output_length",
)


def claim_dag_runs(
    session: Session, scheduler_id: str, max_runs: int, duration: timedelta, now: datetime
) -> tuple[list[DagRun], list[DagRun]]:
    """Renew the caller's claims and take free runs, up to a fair share; return (claims, lost)."""
    touch_instance(session, scheduler_id, SCHEDULER_KIND, now, duration)
    live = max(1, live_instances(session, SCHEDULER_KIND, now))
    active = session.scalar(
        select(func.count()).select_from(DagRun).where(DagRun.state.in_(RUN_ACTIVE))
    )
    limit = min(max_runs, max(1, math.ceil(int(active or 0) / live)))
    held = list(
        session.scalars(
            select(DagRun)
            .where(DagRun.claimed_by == scheduler_id, DagRun.state.in_(RUN_ACTIVE))
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
                    DagRun.state.in_(RUN_ACTIVE),
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
    session: Session, scheduler_id: str, keys: Sequence[RunKey], now: datetime
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
        if not keys or (run.dag_id, run.run_id) in set(keys)
    ]
    for run in rows:
        run.claimed_by = None
        run.claim_expires_at = None
    if rows:
        record_event(session, type=event_pb2.EVENT_TYPE_DAG_RUN_CLAIM_RELEASED, time=now)
    return len(rows)


@dataclass(frozen=True)
class ScheduledInterval:
    """A scheduled run's logical date and data interval."""

    logical_date: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None


@dataclass(frozen=True)
class SchedulableDag:
    """A DAG whose schedule a scheduler advances, with what planning needs of its runs."""

    dag: Dag
    definition: dag_pb2.DagDefinition
    active_runs: int
    #: The scheduled run with the latest logical date, None when there is none.
    latest_scheduled: ScheduledInterval | None
    #: For a DAG scheduled on assets: its queued asset events.
    queued: list[QueuedEvent] = field(default_factory=list)
    #: For a partitioned consumer: the events not yet assigned, and its pending partitions.
    queued_partition_events: list[QueuedPartitionEvent] = field(default_factory=list)
    pending_partitions: list[PendingPartition] = field(default_factory=list)


def list_schedulable_dags(session: Session, page: PageRequest) -> Page[SchedulableDag]:
    """Unpaused, active DAGs with a time schedule not exhausted or an asset schedule, by id."""
    query = select(Dag).where(
        Dag.is_active.is_(True),
        Dag.is_paused.is_(False),
        or_(
            and_(Dag.has_schedule.is_(True), Dag.schedule_exhausted.is_(False)),
            Dag.has_asset_schedule.is_(True),
        ),
    )
    found = keyset_page(session, query, Dag.dag_id, page)
    ids = [d.dag_id for d in found.items]
    active = dict(
        session.execute(
            select(DagRun.dag_id, func.count())
            .where(DagRun.dag_id.in_(ids), DagRun.state.in_(RUN_ACTIVE))
            .group_by(DagRun.dag_id)
        ).all()
    )
    newest = (
        select(DagRun.dag_id, func.max(DagRun.logical_date).label("logical_date"))
        .where(DagRun.dag_id.in_(ids), DagRun.run_type == DagRunType.SCHEDULED)
        .group_by(DagRun.dag_id)
        .subquery()
    )
    latest = {
        dag_id: ScheduledInterval(logical_date, start, end)
        for dag_id, logical_date, start, end in session.execute(
            select(
                DagRun.dag_id,
                DagRun.logical_date,
                DagRun.data_interval_start,
                DagRun.data_interval_end,
            ).join(
                newest,
                and_(
                    DagRun.dag_id == newest.c.dag_id,
                    DagRun.logical_date == newest.c.logical_date,
                    DagRun.run_type == DagRunType.SCHEDULED,
                ),
            )
        )
    }
    queued = queued_events(session, [d.dag_id for d in found.items if d.has_asset_schedule])
    partitioned = [d.dag_id for d in found.items if d.partitioning_hash]
    events = queued_partition_events(session, partitioned)
    pending = pending_partitions(session, partitioned) if partitioned else {}
    return found.map(
        lambda d: SchedulableDag(
            d,
            definition_of(session, d.content_hash),
            int(active.get(d.dag_id, 0)),
            latest.get(d.dag_id),
            queued.get(d.dag_id, []),
            events.get(d.dag_id, []),
            pending.get(d.dag_id, []),
        )
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


@dataclass(frozen=True, kw_only=True)
class NextRun:
    """Where a DAG's next-run pointer moves."""

    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    create_after: datetime


@dataclass(frozen=True, kw_only=True)
class ScheduleAdvance:
    """One step of a DAG's schedule: maybe a run to create, and the pointer's new place."""

    dag_id: str
    expected_content_hash: str
    expected_next_logical_date: datetime | None
    #: The scheduled run to create with its DAG version's content hash, or None.
    run: NewRun | None = None
    run_content_hash: str = ""
    #: None: the schedule is exhausted.
    next: NextRun | None = None


def point_next_run(dag: Dag, following: NextRun | None) -> None:
    """Move a DAG's next-run pointer; None leaves it unset (to be computed, or exhausted)."""
    dag.next_dagrun_logical_date = following.logical_date if following else None
    dag.next_dagrun_data_interval_start = following.data_interval_start if following else None
    dag.next_dagrun_data_interval_end = following.data_interval_end if following else None
    dag.next_dagrun_create_after = following.create_after if following else None


@dataclass(frozen=True)
class AdvanceOutcome:
    """Whether a schedule step held, and the run it created."""

    applied: bool
    refusal: Refusal | None = None
    run: DagRun | None = None


def advance_schedule(session: Session, advance: ScheduleAdvance, now: datetime) -> AdvanceOutcome:
    """Create a scheduled run and move the DAG's next-run pointer, as one compare-and-set."""
    dag = session.get(Dag, advance.dag_id, with_for_update=True)
    if dag is None or not dag.is_active:
        return AdvanceOutcome(False, Refusal.NOT_FOUND)
    if dag.is_paused:
        return AdvanceOutcome(False, Refusal.DAG_PAUSED)
    if dag.next_dagrun_logical_date != advance.expected_next_logical_date or (
        advance.expected_content_hash and advance.expected_content_hash != dag.content_hash
    ):
        return AdvanceOutcome(False, Refusal.STATE_CONFLICT)
    run = None
    if advance.run is not None:
        content_hash = advance.run_content_hash or dag.content_hash
        exists = session.scalar(
            select(func.count())
            .select_from(DagRun)
            .where(DagRun.dag_id == dag.dag_id, DagRun.run_id == advance.run.run_id)
        )
        try:
            definition = definition_of(session, content_hash)
        except LookupError:
            exists = 1
        if exists:
            return AdvanceOutcome(False, Refusal.STATE_CONFLICT)
        run = create_run(session, dag, definition, content_hash, advance.run, now)
    point_next_run(dag, advance.next)
    dag.schedule_exhausted = advance.next is None
    dag.updated_at = now
    return AdvanceOutcome(True, run=run)


@dataclass(frozen=True)
class RunSnapshot:
    """A claimed run, its counts by state, and the scheduling columns of its task instances."""

    run: DagRun
    counts: dict[str, int]
    #: Rows of :data:`SCHEDULING_COLUMNS` (not ORM objects: a big run is read on every pass).
    task_instances: list[Any]


@dataclass(frozen=True, kw_only=True)
class DagConcurrency:
    """A DAG's limits and how much of them its runs use."""

    dag_id: str
    active_task_instances: int
    max_active_tasks: int
    running_dag_runs: int
    max_active_runs: int
    is_paused: bool


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Everything a scheduler decides on for its claimed runs."""

    runs: list[RunSnapshot]
    pools: list[PoolUsage]
    dag_concurrency: list[DagConcurrency]
    server_time: datetime
    event_cursor: int


def scheduling_snapshot(
    session: Session, scheduler_id: str, keys: Sequence[RunKey], now: datetime
) -> Snapshot:
    """The claimed runs with their task instances, pool usage and DAG concurrency."""
    wanted = sorted(set(keys))
    runs = (
        [
            run
            for run in session.scalars(
                select(DagRun)
                .where(tuple_(DagRun.dag_id, DagRun.run_id).in_(wanted))
                .order_by(DagRun.queued_at, DagRun.id)
            )
            if claimed_by(run, scheduler_id, now)
        ]
        if wanted
        else []
    )
    tis_by_run: dict[int, list[Any]] = defaultdict(list)
    if runs:
        columns = [TaskInstance.__table__.columns[name] for name in SCHEDULING_COLUMNS]
        for ti in session.execute(
            select(*columns)
            .where(TaskInstance.dag_run_id.in_([r.id for r in runs]))
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ):
            tis_by_run[ti.dag_run_id].append(ti)
    run_dags = sorted({r.dag_id for r in runs})
    active_tis, running_runs = dag_active_counts(session, run_dags)
    dags = {d.dag_id: d for d in session.scalars(select(Dag).where(Dag.dag_id.in_(run_dags)))}
    cursor = session.scalar(select(func.max(Event.id)))
    return Snapshot(
        # The runs' counts by state follow from the rows just read; no second query.
        runs=[
            RunSnapshot(
                run, dict(Counter(ti.state for ti in tis_by_run[run.id])), tis_by_run[run.id]
            )
            for run in runs
        ],
        pools=all_pool_usages(session),
        dag_concurrency=[
            DagConcurrency(
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
        server_time=now,
        event_cursor=int(cursor or 0),
    )
