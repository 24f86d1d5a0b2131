"""What tasks and triggers may learn of, and do to, other DAGs: state counts, triggered runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.runs import run_id_for
from core.states import DagRunType
from services.state.db.models import Dag, DagRun, TaskInstance
from services.state.store.errors import AlreadyExists, InvalidInput, NotFound
from services.state.store.runs import get_run, trigger_dag_run
from services.state.store.transitions import clear_task_instance_rows, definition_of


@dataclass(frozen=True, kw_only=True)
class StateCount:
    """Which runs (or their task instances) of a DAG to count, in which states."""

    dag_id: str
    logical_dates: Sequence[datetime] = ()
    run_ids: Sequence[str] = ()
    task_ids: Sequence[str] = ()
    task_group_ids: Sequence[str] = ()
    states: Sequence[str] = field(default_factory=tuple)


def count_states(session: Session, query: StateCount) -> int:
    """How many of the chosen runs, or of their tasks' instances, are in ``query.states``.

    Runs are chosen by logical date or run id; a run that does not exist counts nothing.
    """
    if not query.logical_dates and not query.run_ids:
        raise InvalidInput("query", "names no run: give logical_dates or run_ids")
    runs = or_(
        DagRun.logical_date.in_(list(query.logical_dates)),
        DagRun.run_id.in_(list(query.run_ids)),
    )
    if not query.task_ids and not query.task_group_ids:
        counted = (
            select(func.count())
            .select_from(DagRun)
            .where(DagRun.dag_id == query.dag_id, runs, DagRun.state.in_(list(query.states)))
        )
        return int(session.scalar(counted) or 0)
    task_ids = set(query.task_ids) | _tasks_of_groups(session, query.dag_id, query.task_group_ids)
    counted = (
        select(func.count())
        .select_from(TaskInstance)
        .join(DagRun, DagRun.id == TaskInstance.dag_run_id)
        .where(
            DagRun.dag_id == query.dag_id,
            runs,
            TaskInstance.task_id.in_(sorted(task_ids)),
            TaskInstance.state.in_(list(query.states)),
        )
    )
    return int(session.scalar(counted) or 0)


def _tasks_of_groups(session: Session, dag_id: str, group_ids: Sequence[str]) -> set[str]:
    if not group_ids:
        return set()
    dag = session.get(Dag, dag_id)
    if dag is None:
        raise NotFound("dag", dag_id)
    tasks = definition_of(session, dag.content_hash).tasks
    found: set[str] = set()
    for group in group_ids:
        members = {
            t.task_id
            for t in tasks
            if t.task_group_id == group or t.task_group_id.startswith(f"{group}.")
        }
        if not members:
            raise NotFound("task_group", f"{dag_id}/{group}")
        found |= members
    return found


def trigger_or_reset_run(
    session: Session,
    dag_id: str,
    *,
    run_id: str,
    logical_date: datetime,
    conf_json: str,
    reset_dag_run: bool,
    note: str,
    now: datetime,
) -> tuple[DagRun, bool]:
    """Trigger a run of a DAG; with ``reset_dag_run``, clear the run if the id is taken.

    Returns the run and whether it existed already. Without ``reset_dag_run`` a taken run id
    raises AlreadyExists (TriggerDagRunOperator decides what that means).
    """
    run_id = run_id or run_id_for(DagRunType.MANUAL, logical_date)
    try:
        run, _ = trigger_dag_run(
            session,
            dag_id,
            run_id=run_id,
            logical_date=logical_date,
            conf_json=conf_json,
            note=note,
            request_id="",
            now=now,
        )
        return run, False
    except AlreadyExists:
        if not reset_dag_run:
            raise
    existing = get_run(session, dag_id, run_id, for_update=True)
    tis = list(
        session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_run_id == existing.id)
            .order_by(TaskInstance.id)
            .with_for_update()
        )
    )
    clear_task_instance_rows(session, existing, tis, now)
    return existing, True
