"""Which scheduled runs to create now: pure decisions on a DAG's schedule and its pointer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.timetables import DataInterval, Timetable, next_interval


@dataclass(frozen=True, kw_only=True)
class DagSchedule:
    """A DAG's schedule and where it stands, as the state service reports it."""

    dag_id: str
    content_hash: str
    timetable: Timetable
    start_date: datetime | None
    end_date: datetime | None
    catchup: bool
    max_active_runs: int
    active_runs: int
    #: The next-run pointer (None: not computed yet).
    next_run: DataInterval | None
    #: The data interval of the latest scheduled run, None when there is none.
    latest_scheduled: DataInterval | None


@dataclass(frozen=True, kw_only=True)
class Advance:
    """One step of a DAG's schedule to send to the state service."""

    dag_id: str
    content_hash: str
    expected_next_logical_date: datetime | None
    run: DataInterval | None
    next_run: DataInterval | None
    #: The run's partition (key, date), for a partitioned timetable.
    partition: tuple[str, datetime] | None = None


def plan_schedule(dag: DagSchedule, now: datetime) -> tuple[Advance | None, datetime | None]:
    """The step to take now (or None), and when to look at the DAG again (or None).

    The first call computes the pointer; once the pointed-at interval has ended and
    max_active_runs allows, the run is created and the pointer moves to the next interval.
    """

    def following(after: DataInterval | None) -> DataInterval | None:
        return next_interval(
            dag.timetable,
            start_date=dag.start_date,
            end_date=dag.end_date,
            catchup=dag.catchup,
            last=after,
            now=now,
        )

    if dag.next_run is None:
        advance = Advance(
            dag_id=dag.dag_id,
            content_hash=dag.content_hash,
            expected_next_logical_date=None,
            run=None,
            next_run=following(dag.latest_scheduled),
        )
        return advance, None
    due = dag.next_run.create_after
    if due > now:
        return None, due
    limit = dag.max_active_runs
    if dag.timetable.active_runs_limit is not None:
        limit = min(limit, dag.timetable.active_runs_limit)
    if dag.active_runs >= limit:
        return None, None  # a run finishing wakes the scheduler
    run = dag.next_run
    if dag.timetable.computed_at_creation:
        # Its interval ends now, not when the pointer was computed (@continuous).
        run = following(dag.latest_scheduled) or run
    advance = Advance(
        dag_id=dag.dag_id,
        content_hash=dag.content_hash,
        expected_next_logical_date=dag.next_run.logical_date,
        run=run,
        next_run=following(run),
        partition=dag.timetable.partition_of(run),
    )
    return advance, None
