"""The state machine's deferral rules: how suspended tries end, and their pure helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core.deferral import (
    TriggerFailureReason,
    failure_kwargs,
    fair_share,
    resumed_kwargs,
    trigger_timeout_at,
)
from core.retries import RetryPolicy
from core.states import TaskInstanceState, TryOutcome
from core.transitions import scheduler_may_move
from core.tries import end_of_try

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _end(outcome: str, state: str = "running", **options: object) -> object:
    return end_of_try(
        state=state,
        outcome=outcome,
        try_number=1,
        max_tries=1,
        retry=RetryPolicy(retry_delay=0.0),
        ended_at=NOW,
        identity="x",
        **options,  # type: ignore[arg-type]
    )


def test_a_deferral_and_a_reschedule_suspend_the_try_even_on_its_last_try() -> None:
    assert _end(TryOutcome.DEFERRED).state == TaskInstanceState.DEFERRED  # type: ignore[attr-defined]
    due = NOW + timedelta(seconds=30)
    end = _end(TryOutcome.RESCHEDULED, resume_at=due)
    assert end.state == TaskInstanceState.UP_FOR_RESCHEDULE  # type: ignore[attr-defined]
    assert end.next_retry_at == due  # type: ignore[attr-defined]


def test_a_cleared_or_marked_try_does_not_suspend() -> None:
    assert _end(TryOutcome.DEFERRED, state="restarting").state == TaskInstanceState.NONE  # type: ignore[attr-defined]
    marked = _end(TryOutcome.DEFERRED, state="success", stop_requested=True)
    assert marked.state == TaskInstanceState.SUCCESS  # type: ignore[attr-defined]


def test_the_scheduler_moves_suspended_instances_only_onwards() -> None:
    assert scheduler_may_move("deferred", "scheduled")
    assert not scheduler_may_move("deferred", "queued")
    assert not scheduler_may_move("deferred", "failed")
    assert scheduler_may_move("up_for_reschedule", "queued")
    assert not scheduler_may_move("up_for_reschedule", "scheduled")


def test_the_event_joins_the_deferrals_kwargs() -> None:
    assert json.loads(resumed_kwargs('{"a": 1}', '{"status": "ok"}')) == {
        "a": 1,
        "event": {"status": "ok"},
    }
    assert json.loads(resumed_kwargs("", "")) == {"event": None}
    failed = json.loads(failure_kwargs(TriggerFailureReason.TRIGGER_FAILURE, "boom", "a\nb"))
    assert failed == {"error": "Trigger failure", "message": "boom", "traceback": ["a", "b"]}


def test_the_sooner_of_the_timeout_and_the_execution_timeout_wins() -> None:
    started = NOW - timedelta(minutes=9)
    ten = timedelta(minutes=10)
    assert trigger_timeout_at(NOW, ten, started, None) == NOW + ten
    assert trigger_timeout_at(NOW, ten, started, ten) == started + ten
    assert trigger_timeout_at(NOW, None, started, None) is None


def test_fair_shares_split_evenly_within_capacity() -> None:
    assert fair_share(10, 3, 100) == 4
    assert fair_share(10, 3, 2) == 2
    assert fair_share(0, 2, 100) == 1
    assert fair_share(5, 0, 100) == 5
