"""How a try ends: the state its task instance moves to, and when a retry is due."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.retries import RetryPolicy
from core.states import SUSPENDING_OUTCOMES, WAITING, TaskInstanceState, TryOutcome

_TI = TaskInstanceState


@dataclass(frozen=True)
class TryEnd:
    """The task instance's state after a try, and when its next try becomes due."""

    state: TaskInstanceState
    next_retry_at: datetime | None = None


def end_of_try(
    *,
    state: str,
    outcome: str,
    try_number: int,
    max_tries: int,
    retry: RetryPolicy,
    ended_at: datetime,
    identity: str,
    stop_requested: bool = False,
    resume_at: datetime | None = None,
) -> TryEnd:
    """The state a task instance takes when its current try ends, whoever saw it end.

    A task instance cleared while its try ran (restarting) starts over from none; one a person
    marked while it ran keeps the state they chose. A deferral or a reschedule suspends the try
    (deferred, up_for_reschedule; ``next_retry_at`` is then ``resume_at``, when the next poke
    is due). Otherwise success and skipped stand, and a
    failure of any kind (failed, timed out, terminated, lease expired, ...) is retried after the
    back-off while tries remain, except ``failed_no_retry``.

    Args:
        state: the task instance's state as the try ends (running, restarting, or marked).
        outcome: how the try ended (a :class:`TryOutcome` value).
        try_number: the try that ended, from 1.
        max_tries: retries + 1.
        retry: the task's retry settings.
        ended_at: when the try ended.
        identity: the task instance's jitter seed (:func:`core.retries.retry_identity`).
        stop_requested: a person marked the task instance while the try ran.
        resume_at: for a reschedule, when the sensor's next poke is due.

    """
    if state == _TI.RESTARTING:
        return TryEnd(_TI.NONE)
    if stop_requested:
        return TryEnd(_TI(state))
    if outcome in SUSPENDING_OUTCOMES:
        return TryEnd(SUSPENDING_OUTCOMES[TryOutcome(outcome)], resume_at)
    if outcome == TryOutcome.SUCCESS:
        return TryEnd(_TI.SUCCESS)
    if outcome == TryOutcome.SKIPPED:
        return TryEnd(_TI.SKIPPED)
    if outcome == TryOutcome.FAILED_NO_RETRY or try_number >= max_tries:
        return TryEnd(_TI.FAILED)
    delay = retry.delay_after(try_number, identity)
    return TryEnd(_TI.UP_FOR_RETRY, ended_at + timedelta(seconds=delay))


def skipped_by(
    end_state: str, skip_task_ids: Iterable[str], states: Mapping[str, str]
) -> list[str]:
    """The task instances a branch's skip list moves to skipped when its try ends.

    A branch or short-circuit try names the downstream tasks it skips; they are skipped once
    the try ended success or skipped, and only those still waiting for their trigger rule.

    Args:
        end_state: the state the try's task instance took.
        skip_task_ids: the task ids the try asked to skip.
        states: the current state of the run's task instances, by task id.

    """
    if end_state not in (_TI.SUCCESS, _TI.SKIPPED):
        return []
    return sorted(t for t in set(skip_task_ids) if states.get(t) in WAITING)
