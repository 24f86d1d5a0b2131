"""A run's outcome from its task instances' states, and the ids of runs."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from core.states import FAILURES, FINISHED, WAITING, DagRunState, DagRunType


def run_outcome(
    states: Mapping[str, Collection[str]], leaves: Collection[str], *, progressing: bool
) -> DagRunState | None:
    """Airflow's rule for a running run: its final state, or None while it goes on.

    Once every task instance is finished, the run fails when a leaf task (one without
    downstream tasks) failed or is upstream_failed, and succeeds otherwise. Before that it
    fails only when it is stuck: nothing is ``progressing`` (queued in this very decision) and
    every unfinished task instance waits for a trigger rule that nothing will satisfy.

    Args:
        states: the states of each task's instances (one per map index), by task id.
        leaves: the task ids without downstream tasks (all of them when empty).
        progressing: whether the decision at hand queues a task instance.

    """
    unfinished = [s for group in states.values() for s in group if s not in FINISHED]
    if unfinished:
        stuck = not progressing and all(s in WAITING for s in unfinished)
        return DagRunState.FAILED if stuck else None
    judged = [t for t in leaves if t in states] or list(states)
    if any(s in FAILURES for t in judged for s in states[t]):
        return DagRunState.FAILED
    return DagRunState.SUCCESS


def run_id_for(run_type: DagRunType | str, logical_date: datetime) -> str:
    """Airflow's run id: ``<run type>__<logical date in ISO 8601, UTC>``."""
    return f"{DagRunType(run_type).value}__{logical_date.astimezone(UTC).isoformat()}"
