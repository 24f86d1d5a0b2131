"""DAG runs: creating them with their task instances, reading, marking and deleting them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.proto_enums import DAG_RUN_STATES
from core.runs import run_id_for
from core.states import FINISHED, LEASED, DagRunState, DagRunType, TaskInstanceState
from core.timetables import DataInterval
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.runtime.timetables import builtin_timetable, triggered_partition_date
from services.state.db.event_log import record_event
from services.state.db.models import Dag, DagRun, DagRunAssetEvent, TaskInstance
from services.state.graph import priority_weights
from services.state.store.errors import AlreadyExists, InvalidInput, NotFound, Refused
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.transitions import (
    change_run_state,
    change_ti_state,
    clear_task_instance_rows,
    definition_of,
)


@dataclass(frozen=True, kw_only=True)
class NewRun:
    """What a new run is made of."""

    run_id: str
    run_type: str
    logical_date: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    conf_json: str = "{}"
    note: str = ""
    request_id: str | None = None
    partition_key: str | None = None
    partition_date: datetime | None = None


def create_run(
    session: Session,
    dag: Dag,
    definition: dag_pb2.DagDefinition,
    content_hash: str,
    new: NewRun,
    now: datetime,
) -> DagRun:
    """Insert a queued run and a task instance in state none for each of its tasks."""
    run = DagRun(
        dag_id=dag.dag_id,
        run_id=new.run_id,
        run_type=new.run_type,
        state=DagRunState.QUEUED,
        logical_date=new.logical_date,
        data_interval_start=new.data_interval_start,
        data_interval_end=new.data_interval_end,
        conf_json=new.conf_json,
        queued_at=now,
        dag_content_hash=content_hash,
        note=new.note,
        generation=0,
        request_id=new.request_id,
        created_at=now,
        partition_key=new.partition_key,
        partition_date=new.partition_date,
    )
    session.add(run)
    session.flush()
    weights = priority_weights(definition)
    rows = [
        {
            "dag_run_id": run.id,
            "dag_id": dag.dag_id,
            "run_id": new.run_id,
            "task_id": task.task_id,
            "state": TaskInstanceState.NONE,
            "try_number": 0,
            "max_tries": task.retries + 1,
            "pool": task.pool or "default_pool",
            "pool_slots": max(1, task.pool_slots),
            "queue": task.queue or "default",
            "priority_weight": weights[task.task_id],
            "operator": task.operator,
            "updated_at": now,
        }
        for task in definition.tasks
    ]
    if rows:
        session.execute(insert(TaskInstance), rows)
    record_event(
        session,
        type=event_pb2.EVENT_TYPE_DAG_RUN_CREATED,
        time=now,
        dag_id=dag.dag_id,
        run_id=new.run_id,
        dag_run_state=DAG_RUN_STATES.to_proto(DagRunState.QUEUED),
    )
    return run


def run_id_taken(session: Session, dag_id: str, run_id: str) -> bool:
    """Whether the DAG has a run with this id."""
    return bool(
        session.scalar(
            select(func.count())
            .select_from(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        )
    )


def create_asset_triggered_run_row(
    session: Session,
    dag: Dag,
    *,
    run_id: str,
    triggered_at: datetime,
    event_ids: Sequence[int],
    now: datetime,
    partition_key: str | None = None,
    partition_date: datetime | None = None,
) -> DagRun:
    """An asset-triggered run of the DAG's current version that consumed these events.

    Its logical date and data interval are the moment of its newest event.
    """
    run = create_run(
        session,
        dag,
        definition_of(session, dag.content_hash),
        dag.content_hash,
        NewRun(
            run_id=run_id,
            run_type=DagRunType.ASSET_TRIGGERED,
            logical_date=triggered_at,
            data_interval_start=triggered_at,
            data_interval_end=triggered_at,
            partition_key=partition_key,
            partition_date=partition_date,
        ),
        now,
    )
    session.add_all(DagRunAssetEvent(dag_run_id=run.id, asset_event_id=i) for i in event_ids)
    return run


def trigger_dag_run(
    session: Session,
    dag_id: str,
    *,
    run_id: str,
    logical_date: datetime,
    conf_json: str,
    note: str,
    request_id: str,
    now: datetime,
    partition_key: str = "",
) -> tuple[DagRun, bool]:
    """Create a manual run; return it and whether it was created (False for a repeated request).

    A run for a partition takes the date its DAG's timetable decodes from the key.
    """
    dag = session.get(Dag, dag_id)
    if dag is None:
        raise NotFound("dag", dag_id)
    if request_id:
        existing = session.scalar(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.request_id == request_id)
        )
        if existing is not None:
            return existing, False
    if not dag.is_active:
        raise Refused(
            f"DAG {dag_id!r} is not active: its file no longer defines it (see import errors)"
        )
    run_id = run_id or run_id_for(DagRunType.MANUAL, logical_date)
    taken = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if taken is not None:
        raise AlreadyExists(
            "dag_run", f"{dag_id}/{run_id}", existing_request_id=taken.request_id or ""
        )
    definition = definition_of(session, dag.content_hash)
    interval = manual_interval(definition, logical_date)
    try:
        partition_date = triggered_partition_date(definition.schedule, partition_key)
    except ValueError as err:
        raise InvalidInput("partition_key", str(err)) from err
    run = create_run(
        session,
        dag,
        definition,
        dag.content_hash,
        NewRun(
            run_id=run_id,
            run_type="manual",
            logical_date=logical_date,
            data_interval_start=interval.start,
            data_interval_end=interval.end,
            conf_json=conf_json,
            note=note,
            request_id=request_id or None,
            partition_key=partition_key or None,
            partition_date=partition_date,
        ),
        now,
    )
    return run, True


def manual_interval(definition: dag_pb2.DagDefinition, logical_date: datetime) -> DataInterval:
    """A manual run's data interval, as its DAG's timetable infers it.

    As Airflow's ``infer_manual_data_interval``: the last complete interval for a data interval
    timetable, the ``interval`` before it for a trigger one. A user's timetable is never run
    in the state service: its manual runs cover their logical date alone.
    """
    try:
        timetable = builtin_timetable(definition.schedule)
        if timetable is not None:
            return timetable.manual_interval(logical_date)
    except (ValueError, KeyError, ArithmeticError):  # a schedule its rules cannot step through
        pass
    return DataInterval(logical_date, logical_date)


def run_counts(session: Session, dag_run_id: int) -> dict[str, int]:
    """How many of a run's task instances are in each state."""
    rows = session.execute(
        select(TaskInstance.state, func.count())
        .where(TaskInstance.dag_run_id == dag_run_id)
        .group_by(TaskInstance.state)
    )
    return {state: int(count) for state, count in rows}


def counts_of_runs(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Task instance counts by state for several runs, in one query."""
    result: dict[int, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if not run_ids:
        return result
    rows = session.execute(
        select(TaskInstance.dag_run_id, TaskInstance.state, func.count())
        .where(TaskInstance.dag_run_id.in_(run_ids))
        .group_by(TaskInstance.dag_run_id, TaskInstance.state)
    )
    for run_id, state, count in rows:
        result[run_id][state] = int(count)
    return result


def get_run(session: Session, dag_id: str, run_id: str, *, for_update: bool = False) -> DagRun:
    """One run, or NotFound."""
    query = select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    if for_update:
        query = query.with_for_update()
    run = session.scalar(query)
    if run is None:
        if session.get(Dag, dag_id) is None:
            raise NotFound("dag", dag_id)
        raise NotFound("dag_run", f"{dag_id}/{run_id}")
    return run


@dataclass(frozen=True, kw_only=True)
class RunFilter:
    """The filters of ListDagRuns; empty means any."""

    dag_id: str = ""
    states: tuple[str, ...] = ()
    run_types: tuple[str, ...] = ()
    logical_date_gte: datetime | None = None
    logical_date_lt: datetime | None = None


@dataclass(frozen=True)
class RunWithCounts:
    """A run and how many of its task instances are in each state."""

    run: DagRun
    counts: dict[str, int]


def list_runs(session: Session, run_filter: RunFilter, page: PageRequest) -> Page[RunWithCounts]:
    """A page of runs, newest logical date first."""
    query = select(DagRun)
    if run_filter.dag_id:
        if session.get(Dag, run_filter.dag_id) is None:
            raise NotFound("dag", run_filter.dag_id)
        query = query.where(DagRun.dag_id == run_filter.dag_id)
    if run_filter.states:
        query = query.where(DagRun.state.in_(run_filter.states))
    if run_filter.run_types:
        query = query.where(DagRun.run_type.in_(run_filter.run_types))
    if run_filter.logical_date_gte is not None:
        query = query.where(DagRun.logical_date >= run_filter.logical_date_gte)
    if run_filter.logical_date_lt is not None:
        query = query.where(DagRun.logical_date < run_filter.logical_date_lt)
    found = keyset_page(session, query, [(DagRun.logical_date, True), (DagRun.id, True)], page)
    counts = counts_of_runs(session, [r.id for r in found.items])
    return found.map(lambda run: RunWithCounts(run, counts[run.id]))


def set_run_state(
    session: Session, dag_id: str, run_id: str, state: str, note: str, now: datetime
) -> DagRun:
    """Mark a run success or failed (its unfinished task instances follow), or queue it again."""
    run = get_run(session, dag_id, run_id, for_update=True)
    if note:
        run.note = note
    tis = list(
        session.scalars(
            select(TaskInstance).where(TaskInstance.dag_run_id == run.id).with_for_update()
        )
    )
    if state == DagRunState.QUEUED:
        clear_task_instance_rows(session, run, tis, now)
    else:
        for ti in tis:
            if ti.state in FINISHED:
                continue
            if ti.state in LEASED:
                target = (
                    TaskInstanceState.SUCCESS
                    if state == DagRunState.SUCCESS
                    else TaskInstanceState.FAILED
                )
                ti.stop_requested = True
                ti.end_date = now
                change_ti_state(session, ti, target, now)
            else:
                target = (
                    TaskInstanceState.SUCCESS
                    if state == DagRunState.SUCCESS
                    else TaskInstanceState.SKIPPED
                )
                ti.end_date = now
                change_ti_state(session, ti, target, now)
        if run.state != state:
            change_run_state(session, run, state, now)
        run.generation += 1
    return run


def delete_run(session: Session, dag_id: str, run_id: str, allow_missing: bool) -> None:
    """Delete a run with its task instances, tries, XCom and logs."""
    try:
        run = get_run(session, dag_id, run_id, for_update=True)
    except NotFound:
        if allow_missing:
            return
        raise
    session.execute(delete(DagRun).where(DagRun.id == run.id))
