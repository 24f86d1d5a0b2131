"""Task instances through the public API: listing, tries, clearing and marking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.graph import reachable
from core.setup_teardown import SetupTeardownGraph
from core.states import FAILURES, LEASED, RUN_ACTIVE, TaskInstanceState
from services.state.db.models import Dag, DagRun, TaskInstance, TaskInstanceTry
from services.state.graph import downstream_map, task_shapes, upstream_map
from services.state.store.errors import NotFound
from services.state.store.expansion import fold_mapped_tasks
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.runs import get_run
from services.state.store.transitions import (
    change_ti_state,
    clear_task_instance_rows,
    definition_of,
)


@dataclass(frozen=True)
class TaskInstanceKey:
    """Which task instance: its DAG, run and task."""

    dag_id: str
    run_id: str
    task_id: str
    #: -1: the instance of a task that is not mapped (or of a mapped task not expanded yet).
    map_index: int = -1

    def describe(self) -> str:
        """The instance, for messages: ``dag/run/task`` and ``[map index]`` when mapped."""
        base = f"{self.dag_id}/{self.run_id}/{self.task_id}"
        return base if self.map_index < 0 else f"{base}[{self.map_index}]"


def get_ti(session: Session, key: TaskInstanceKey, *, for_update: bool = False) -> TaskInstance:
    """One task instance by key, or NotFound naming what is missing."""
    query = select(TaskInstance).where(
        TaskInstance.dag_id == key.dag_id,
        TaskInstance.run_id == key.run_id,
        TaskInstance.task_id == key.task_id,
        TaskInstance.map_index == key.map_index,
    )
    if for_update:
        query = query.with_for_update()
    ti = session.scalar(query)
    if ti is None:
        get_run(session, key.dag_id, key.run_id)
        raise NotFound("task_instance", _missing(session, key))
    return ti


def _missing(session: Session, key: TaskInstanceKey) -> str:
    """What a NotFound names: the instance, and the map indexes a mapped task has."""
    indexes = [
        index
        for index, state in session.execute(
            select(TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == key.dag_id,
                TaskInstance.run_id == key.run_id,
                TaskInstance.task_id == key.task_id,
            )
        )
        if index >= 0 and state != TaskInstanceState.REMOVED
    ]
    if not indexes:
        return key.describe()
    return (
        f"{key.describe()} (task {key.task_id!r} is mapped: name a map index from"
        f" {min(indexes)} to {max(indexes)})"
    )


@dataclass(frozen=True, kw_only=True)
class TaskInstanceFilter:
    """The filters of ListTaskInstances; empty means any."""

    dag_id: str = ""
    run_id: str = ""
    task_ids: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    pool: str = ""
    queue: str = ""
    #: None: every map index.
    map_index: int | None = None


def list_task_instances(
    session: Session, selection: TaskInstanceFilter, page: PageRequest
) -> Page[TaskInstance]:
    """A page of task instances, by run (oldest first) then task id."""
    query = select(TaskInstance)
    if selection.dag_id:
        if session.get(Dag, selection.dag_id) is None:
            raise NotFound("dag", selection.dag_id)
        query = query.where(TaskInstance.dag_id == selection.dag_id)
    if selection.run_id:
        if selection.dag_id:
            get_run(session, selection.dag_id, selection.run_id)
        query = query.where(TaskInstance.run_id == selection.run_id)
    if selection.task_ids:
        query = query.where(TaskInstance.task_id.in_(selection.task_ids))
    if selection.states:
        query = query.where(TaskInstance.state.in_(selection.states))
    if selection.pool:
        query = query.where(TaskInstance.pool == selection.pool)
    if selection.queue:
        query = query.where(TaskInstance.queue == selection.queue)
    if selection.map_index is not None:
        query = query.where(TaskInstance.map_index == selection.map_index)
    return keyset_page(
        session,
        query,
        [
            (TaskInstance.dag_run_id, False),
            (TaskInstance.task_id, False),
            (TaskInstance.map_index, False),
        ],
        page,
    )


def list_tries(
    session: Session,
    dag_id: str,
    run_id: str,
    task_ids: Sequence[str],
    page: PageRequest,
    *,
    map_index: int | None = None,
) -> Page[TaskInstanceTry]:
    """A page of try records of a DAG (one run of it, some tasks), by task instance then try."""
    if not dag_id or session.get(Dag, dag_id) is None:
        raise NotFound("dag", dag_id)
    query = select(TaskInstanceTry).where(TaskInstanceTry.dag_id == dag_id)
    if run_id:
        get_run(session, dag_id, run_id)
        query = query.where(TaskInstanceTry.run_id == run_id)
    if task_ids:
        query = query.where(TaskInstanceTry.task_id.in_(list(task_ids)))
    if map_index is not None:
        query = query.where(TaskInstanceTry.map_index == map_index)
    return keyset_page(
        session,
        query,
        [(TaskInstanceTry.task_instance_id, False), (TaskInstanceTry.try_number, False)],
        page,
    )


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which task instances a clear or a mark takes: tasks of one run or of a date range."""

    dag_id: str
    run_id: str = ""
    task_ids: tuple[str, ...] = ()
    include_upstream: bool = False
    include_downstream: bool = False
    only_failed: bool = False
    logical_date_gte: datetime | None = None
    logical_date_lt: datetime | None = None
    #: A clear takes the tasks' setups and teardowns along (Airflow's rule); a mark does not.
    with_setups_and_teardowns: bool = False
    #: Only these map indexes of the tasks in ``task_ids`` (empty: every instance).
    map_indexes: tuple[int, ...] = ()


def _selected_runs(session: Session, selection: Selection) -> list[DagRun]:
    if session.get(Dag, selection.dag_id) is None:
        raise NotFound("dag", selection.dag_id)
    if selection.run_id:
        return [get_run(session, selection.dag_id, selection.run_id, for_update=True)]
    query = select(DagRun).where(DagRun.dag_id == selection.dag_id)
    if selection.logical_date_gte is not None:
        query = query.where(DagRun.logical_date >= selection.logical_date_gte)
    if selection.logical_date_lt is not None:
        query = query.where(DagRun.logical_date < selection.logical_date_lt)
    return list(session.scalars(query.order_by(DagRun.logical_date).with_for_update()))


def _expand(
    session: Session,
    run: DagRun,
    task_ids: Sequence[str],
    upstream: bool,
    downstream: bool,
    *,
    with_setups_and_teardowns: bool = False,
) -> set[str] | None:
    """The task ids selected in one run, with their relatives; None means every task."""
    if not task_ids:
        return None
    definition = definition_of(session, run.dag_content_hash)
    selected = set(task_ids)
    if upstream:
        selected |= reachable(upstream_map(definition), task_ids)
    if downstream:
        selected |= reachable(downstream_map(definition), task_ids)
    if with_setups_and_teardowns:
        graph = SetupTeardownGraph(task_shapes(definition))
        selected |= graph.cleared_with(sorted(selected), include_downstream=downstream)
    return selected


def selected(session: Session, selection: Selection) -> list[tuple[DagRun, list[TaskInstance]]]:
    """The selected task instances, locked, by run (runs without any left out)."""
    chosen = []
    for run in _selected_runs(session, selection):
        task_ids = _expand(
            session,
            run,
            selection.task_ids,
            selection.include_upstream,
            selection.include_downstream,
            with_setups_and_teardowns=selection.with_setups_and_teardowns,
        )
        query = select(TaskInstance).where(
            TaskInstance.dag_run_id == run.id,
            # A mapped task's instances beyond its last expansion are not taken.
            or_(TaskInstance.map_index < 0, TaskInstance.state != TaskInstanceState.REMOVED),
        )
        if task_ids is not None:
            query = query.where(TaskInstance.task_id.in_(task_ids))
        if selection.map_indexes:
            query = query.where(
                or_(
                    TaskInstance.task_id.not_in(selection.task_ids),
                    TaskInstance.map_index.in_(selection.map_indexes),
                )
            )
        if selection.only_failed:
            query = query.where(TaskInstance.state.in_(FAILURES))
        tis = list(
            session.scalars(
                query.order_by(TaskInstance.task_id, TaskInstance.map_index).with_for_update()
            )
        )
        if tis:
            chosen.append((run, tis))
    return chosen


def clear(
    session: Session, chosen: Sequence[tuple[DagRun, list[TaskInstance]]], now: datetime
) -> None:
    """Clear task instances chosen by :func:`selected` (Airflow's clear)."""
    for run, tis in chosen:
        clear_task_instance_rows(session, run, fold_mapped_tasks(session, run, tis, now), now)


def mark(
    session: Session,
    run: DagRun,
    tis: Sequence[TaskInstance],
    state: str,
    now: datetime,
    *,
    task_id: str,
) -> None:
    """Mark task instances success, failed or skipped by hand, with Airflow's rules.

    The run's own state is left as it is; the failed and upstream_failed task instances
    downstream of ``task_id`` (the task asked for) are cleared so that they run again, which
    queues the run once more. A running try of a marked task instance is asked to stop.
    """
    for ti in tis:
        if ti.state in LEASED:
            ti.stop_requested = True
        ti.end_date = now
        ti.next_retry_at = None
        change_ti_state(session, ti, state, now)
    downstream = (_expand(session, run, [task_id], False, True) or set()) - {task_id}
    failed_downstream = list(
        session.scalars(
            select(TaskInstance)
            .where(
                TaskInstance.dag_run_id == run.id,
                TaskInstance.task_id.in_(sorted(downstream)),
                TaskInstance.state.in_(FAILURES),
            )
            .order_by(TaskInstance.task_id)
            .with_for_update()
        )
    )
    if failed_downstream:
        folded = fold_mapped_tasks(session, run, failed_downstream, now)
        clear_task_instance_rows(session, run, folded, now)
    elif tis and run.state in RUN_ACTIVE:
        run.generation += 1  # decisions made before the mark are stale
