"""The scheduler's decisions about deferred and rescheduled task instances."""

from __future__ import annotations

from datetime import timedelta

from core.states import DagRunState as RunState
from core.states import TaskInstanceState as State
from scheduler.decisions import TaskInstanceView, decide_run
from tests.unit.scheduler.test_decisions import NOW, RUNNING_RUN, chain, moves


def test_a_deferred_instance_waits_until_its_trigger_times_out() -> None:
    waiting = TaskInstanceView(
        task_id="a", state=State.DEFERRED, try_number=1, trigger_timeout=NOW + timedelta(5)
    )
    decision = decide_run(RUNNING_RUN, chain("a", "b"), [waiting, *_none("b")], NOW)
    assert moves(decision) == {}
    assert decision.wake_at == NOW + timedelta(5)
    assert decision.run_state is None


def test_a_timed_out_deferral_is_scheduled_and_the_run_goes_on() -> None:
    late = TaskInstanceView(
        task_id="a", state=State.DEFERRED, try_number=1, trigger_timeout=NOW - timedelta(1)
    )
    decision = decide_run(RUNNING_RUN, chain("a"), [late], NOW)
    assert moves(decision) == {"a": State.SCHEDULED}
    assert decision.transitions[0].reason == "trigger timeout"
    # Nothing else moves, but the run is not stuck: the instance resumes in a new process.
    assert decision.run_state is None


def test_a_deferral_without_timeout_never_wakes_the_run() -> None:
    forever = TaskInstanceView(task_id="a", state=State.DEFERRED, try_number=1)
    decision = decide_run(RUNNING_RUN, chain("a"), [forever], NOW)
    assert moves(decision) == {}
    assert decision.wake_at is None
    assert decision.run_state is None


def test_a_reschedule_is_queued_when_its_poke_is_due() -> None:
    later = TaskInstanceView(
        task_id="a", state=State.UP_FOR_RESCHEDULE, try_number=1, next_retry_at=NOW + timedelta(1)
    )
    decision = decide_run(RUNNING_RUN, chain("a"), [later], NOW)
    assert moves(decision) == {}
    assert decision.wake_at == NOW + timedelta(1)
    due = TaskInstanceView(
        task_id="a", state=State.UP_FOR_RESCHEDULE, try_number=1, next_retry_at=NOW
    )
    assert moves(decide_run(RUNNING_RUN, chain("a"), [due], NOW)) == {"a": State.QUEUED}


def test_a_run_with_a_waiting_sensor_is_neither_done_nor_stuck() -> None:
    views = [
        TaskInstanceView(
            task_id="a",
            state=State.UP_FOR_RESCHEDULE,
            try_number=1,
            next_retry_at=NOW + timedelta(1),
        ),
        TaskInstanceView(task_id="b", state=State.NONE),
    ]
    decision = decide_run(RUNNING_RUN, chain("a", "b"), views, NOW)
    assert decision.run_state is None
    assert RUNNING_RUN.state == RunState.RUNNING


def _none(*task_ids: str) -> list[TaskInstanceView]:
    return [TaskInstanceView(task_id=t, state=State.NONE) for t in task_ids]
