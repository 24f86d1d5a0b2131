"""Following ExternalTaskMarkers when clearing: the other DAGs' task instances taken along."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.state.db.models import DagRun, TaskInstance
from services.state.store.errors import InvalidInput, Refused
from services.state.store.task_instances import Selection, selected
from services.state.store.transitions import version_of

#: The marker's default logical date template: the marker's own run's logical date.
SAME_LOGICAL_DATE = "{{ logical_date.isoformat() }}"

Chosen = list[tuple[DagRun, list[TaskInstance]]]


def _external_date(run: DagRun, template: str, where: str) -> datetime | None:
    text = template.strip()
    if not text or text.replace(" ", "") == SAME_LOGICAL_DATE.replace(" ", ""):
        return run.logical_date
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "include_dependent_dags",
            f"{where}'s logical_date {template!r} is a template the state service cannot"
            " render; give the marker an ISO date or its default template",
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput("include_dependent_dags", f"{where}'s logical_date has no time zone")
    return moment


def dependent_task_instances(
    session: Session, chosen: Sequence[tuple[DagRun, list[TaskInstance]]]
) -> Chosen:
    """The task instances of other DAGs that markers among ``chosen`` lead to, locked.

    Each marker's external task and its downstream tasks are taken, in the external run at
    the marker's logical date (none when that run does not exist); markers among them are
    followed in turn, each level using up one of the first marker's ``recursion_depth``.

    Raises:
        Refused: the markers lead deeper than their recursion_depth allows (a cycle, say).

    """
    seen = {ti.id for _, tis in chosen for ti in tis}
    found: Chosen = []
    frontier: list[tuple[DagRun, TaskInstance, int | None]] = [
        (run, ti, None) for run, tis in chosen for ti in tis
    ]
    while frontier:
        run, ti, left = frontier.pop(0)
        task = version_of(session, run.dag_content_hash).tasks.get(ti.task_id)
        if task is None or not task.HasField("external_marker"):
            continue
        marker = task.external_marker
        where = f"ExternalTaskMarker {ti.dag_id}.{ti.task_id}"
        depth = marker.recursion_depth if left is None else left
        if depth <= 0:
            raise Refused(
                f"Maximum recursion depth {marker.recursion_depth} reached for {where}."
                " Attempted to clear too many tasks or there may be a cyclic dependency."
            )
        moment = _external_date(run, marker.logical_date_template, where)
        target = session.scalar(
            select(DagRun).where(
                DagRun.dag_id == marker.external_dag_id, DagRun.logical_date == moment
            )
        )
        if target is None:
            continue
        picked = selected(
            session,
            Selection(
                dag_id=marker.external_dag_id,
                run_id=target.run_id,
                task_ids=(marker.external_task_id,),
                include_downstream=True,
                with_setups_and_teardowns=True,
            ),
        )
        for external_run, tis in picked:
            new = [t for t in tis if t.id not in seen]
            seen.update(t.id for t in new)
            if new:
                found.append((external_run, new))
            frontier.extend((external_run, t, depth - 1) for t in new)
    return found
