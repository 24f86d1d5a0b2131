"""Which state changes the scheduler may ask for; person-made ones follow their own rules."""

from __future__ import annotations

from collections.abc import Mapping

from core.states import DagRunState, TaskInstanceState

_TI = TaskInstanceState
_RUN = DagRunState

#: Task instance transitions a scheduler may make, by current state.
SCHEDULER_TI_TRANSITIONS: Mapping[TaskInstanceState, frozenset[TaskInstanceState]] = {
    _TI.NONE: frozenset({_TI.SCHEDULED, _TI.QUEUED, _TI.SKIPPED, _TI.UPSTREAM_FAILED, _TI.REMOVED}),
    _TI.SCHEDULED: frozenset({_TI.QUEUED, _TI.NONE, _TI.SKIPPED, _TI.UPSTREAM_FAILED, _TI.REMOVED}),
    _TI.UP_FOR_RETRY: frozenset({_TI.SCHEDULED, _TI.QUEUED, _TI.FAILED, _TI.UPSTREAM_FAILED}),
    # A reschedule-mode sensor's next poke is due.
    _TI.UP_FOR_RESCHEDULE: frozenset({_TI.QUEUED, _TI.UPSTREAM_FAILED}),
    # Its trigger's timeout passed: the task resumes to fail (or soft-fail) in a new process.
    _TI.DEFERRED: frozenset({_TI.SCHEDULED}),
    _TI.QUEUED: frozenset({_TI.SCHEDULED, _TI.FAILED}),
    # Ending a try the executor never reported (lease expired, timed out).
    _TI.RUNNING: frozenset({_TI.FAILED, _TI.UP_FOR_RETRY}),
    _TI.RESTARTING: frozenset({_TI.NONE}),
}
#: Run transitions a scheduler may make, by current state.
SCHEDULER_RUN_TRANSITIONS: Mapping[DagRunState, frozenset[DagRunState]] = {
    _RUN.QUEUED: frozenset({_RUN.RUNNING, _RUN.FAILED}),
    _RUN.RUNNING: frozenset({_RUN.SUCCESS, _RUN.FAILED}),
}


def scheduler_may_move(current: str, new: str) -> bool:
    """Whether a scheduler may move a task instance from ``current`` to ``new``."""
    allowed = SCHEDULER_TI_TRANSITIONS.get(_TI(current), frozenset())
    return new in allowed


def scheduler_may_move_run(current: str, new: str) -> bool:
    """Whether a scheduler may move a run from ``current`` to ``new``."""
    return new in SCHEDULER_RUN_TRANSITIONS.get(_RUN(current), frozenset())
