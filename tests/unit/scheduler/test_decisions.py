from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core.retries import RetryPolicy
from core.states import DagRunState as RunState
from core.states import TaskInstanceState as State
from core.trigger_rules import TriggerRule
from scheduler.decisions import (
    TIMEOUT_GRACE,
    RunView,
    TaskInstanceView,
    TaskSpec,
    Transition,
    decide_run,
    order_for_admission,
    within_capacity,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
RUNNING_RUN = RunView(dag_id="d", run_id="r", state=RunState.RUNNING)


def chain(*names: str, rule: str = TriggerRule.ALL_SUCCESS) -> dict[str, TaskSpec]:
    tasks = {}
    previous: frozenset[str] = frozenset()
    for name in names:
        tasks[name] = TaskSpec(task_id=name, upstream=previous, trigger_rule=TriggerRule(rule))
        previous = frozenset({name})
    return tasks


def tis(**states: str) -> list[TaskInstanceView]:
    return [TaskInstanceView(task_id=task, state=State(state)) for task, state in states.items()]


def moves(decision: object) -> dict[str, str]:
    return {t.task_id: t.new_state for t in decision.transitions}  # type: ignore[attr-defined]


def test_a_queued_run_is_started_and_its_roots_queued_in_the_same_decision() -> None:
    decision = decide_run(
        RunView(dag_id="d", run_id="r", state=RunState.QUEUED),
        chain("a", "b"),
        tis(a="none", b="none"),
        NOW,
    )
    assert decision.run_state == ("queued", "running")
    assert moves(decision) == {"a": "queued"}


def test_an_empty_queued_run_is_started_and_ended_in_the_next_decision() -> None:
    queued = RunView(dag_id="d", run_id="r", state=RunState.QUEUED)
    assert decide_run(queued, {}, [], NOW).run_state == ("queued", "running")
    assert decide_run(RUNNING_RUN, {}, [], NOW).run_state == ("running", "success")


def test_roots_are_queued_and_downstream_waits() -> None:
    decision = decide_run(RUNNING_RUN, chain("a", "b"), tis(a="none", b="none"), NOW)
    assert moves(decision) == {"a": "queued"}
    assert decision.run_state is None


def test_failure_propagates_down_the_chain_in_one_pass() -> None:
    decision = decide_run(
        RUNNING_RUN, chain("a", "b", "c"), tis(a="failed", b="none", c="none"), NOW
    )
    assert moves(decision) == {"b": "upstream_failed", "c": "upstream_failed"}
    assert decision.run_state == ("running", "failed")


def test_skips_propagate_and_the_run_succeeds() -> None:
    decision = decide_run(
        RUNNING_RUN, chain("a", "b", "c"), tis(a="skipped", b="none", c="none"), NOW
    )
    assert moves(decision) == {"b": "skipped", "c": "skipped"}
    assert decision.run_state == ("running", "success")


def test_all_done_cleanup_runs_after_a_failure_and_the_run_still_succeeds() -> None:
    tasks = {
        "a": TaskSpec(task_id="a"),
        "cleanup": TaskSpec(
            task_id="cleanup", upstream=frozenset({"a"}), trigger_rule=TriggerRule.ALL_DONE
        ),
    }
    decision = decide_run(RUNNING_RUN, tasks, tis(a="failed", cleanup="none"), NOW)
    assert moves(decision) == {"cleanup": "queued"}
    finished = decide_run(RUNNING_RUN, tasks, tis(a="failed", cleanup="success"), NOW)
    assert finished.run_state == ("running", "success")


def test_branch_join_with_none_failed_min_one_success() -> None:
    tasks = {
        "branch": TaskSpec(task_id="branch"),
        "left": TaskSpec(task_id="left", upstream=frozenset({"branch"})),
        "right": TaskSpec(task_id="right", upstream=frozenset({"branch"})),
        "join": TaskSpec(
            task_id="join",
            upstream=frozenset({"left", "right"}),
            trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
        ),
    }
    decision = decide_run(
        RUNNING_RUN, tasks, tis(branch="success", left="success", right="skipped", join="none"), NOW
    )
    assert moves(decision) == {"join": "queued"}


def test_retry_waits_for_its_delay_then_queues() -> None:
    later = NOW + timedelta(seconds=30)
    waiting = [
        TaskInstanceView(
            task_id="a", state=State.UP_FOR_RETRY, try_number=1, max_tries=3, next_retry_at=later
        )
    ]
    decision = decide_run(RUNNING_RUN, chain("a"), waiting, NOW)
    assert not decision.transitions
    assert decision.wake_at == later
    due = decide_run(RUNNING_RUN, chain("a"), waiting, later)
    assert moves(due) == {"a": "queued"}


def test_an_expired_lease_retries_with_the_delay_or_fails_on_the_last_try() -> None:
    tasks = {"a": TaskSpec(task_id="a", retry=RetryPolicy(retry_delay=60))}
    expired = NOW - timedelta(seconds=1)
    retrying = decide_run(
        RUNNING_RUN,
        tasks,
        [
            TaskInstanceView(
                task_id="a",
                state=State.RUNNING,
                try_number=1,
                max_tries=2,
                lease_expires_at=expired,
            )
        ],
        NOW,
    )
    (transition,) = retrying.transitions
    assert (transition.new_state, transition.outcome) == ("up_for_retry", "lease_expired")
    assert transition.next_retry_at == NOW + timedelta(seconds=60)
    failing = decide_run(
        RUNNING_RUN,
        tasks,
        [
            TaskInstanceView(
                task_id="a",
                state=State.RUNNING,
                try_number=2,
                max_tries=2,
                lease_expires_at=expired,
            )
        ],
        NOW,
    )
    assert moves(failing) == {"a": "failed"}
    assert failing.run_state == ("running", "failed")


def test_a_live_lease_sets_a_timer() -> None:
    expiry = NOW + timedelta(seconds=10)
    decision = decide_run(
        RUNNING_RUN,
        chain("a"),
        [TaskInstanceView(task_id="a", state=State.RUNNING, try_number=1, lease_expires_at=expiry)],
        NOW,
    )
    assert not decision.transitions
    assert decision.wake_at == expiry


def test_execution_timeout_is_enforced_after_a_grace() -> None:
    tasks = {"a": TaskSpec(task_id="a", execution_timeout=5)}
    started = NOW - timedelta(seconds=5) - TIMEOUT_GRACE - timedelta(seconds=1)
    view = TaskInstanceView(
        task_id="a",
        state=State.RUNNING,
        try_number=1,
        max_tries=1,
        start_date=started,
        lease_expires_at=NOW + timedelta(seconds=20),
    )
    decision = decide_run(RUNNING_RUN, tasks, [view], NOW)
    (transition,) = decision.transitions
    assert (transition.new_state, transition.outcome) == ("failed", "timed_out")


def test_a_cleared_try_goes_back_to_none_once_its_lease_expires() -> None:
    view = TaskInstanceView(
        task_id="a",
        state=State.RESTARTING,
        try_number=1,
        lease_expires_at=NOW - timedelta(seconds=1),
    )
    assert moves(decide_run(RUNNING_RUN, chain("a"), [view], NOW)) == {"a": "none"}


def test_task_instances_of_tasks_no_longer_in_the_dag_are_removed() -> None:
    decision = decide_run(RUNNING_RUN, chain("a"), tis(a="success", gone="none"), NOW)
    assert moves(decision) == {"gone": "removed"}
    assert decision.run_state == ("running", "success")


FINAL = ["success", "failed", "skipped", "upstream_failed"]
RULES = [
    "all_success",
    "all_done",
    "one_success",
    "none_failed",
    "none_failed_min_one_success",
    "always",
    "one_failed",
]


@settings(max_examples=200)
@given(data=st.data(), size=st.integers(min_value=1, max_value=7))
def test_driving_any_dag_to_the_end_always_finishes_the_run(data: st.DataObject, size: int) -> None:
    """Whatever each try's outcome, repeatedly applying decisions ends every run, never stuck."""
    names = [f"t{i}" for i in range(size)]
    tasks = {}
    for index, name in enumerate(names):
        upstream = data.draw(st.sets(st.sampled_from(names[:index])) if index else st.just(set()))
        tasks[name] = TaskSpec(
            task_id=name,
            upstream=frozenset(upstream),
            trigger_rule=TriggerRule(data.draw(st.sampled_from(RULES))),
        )
    states = dict.fromkeys(names, "none")
    for _ in range(4 * size + 4):
        decision = decide_run(
            RUNNING_RUN,
            tasks,
            [TaskInstanceView(task_id=n, state=State(s)) for n, s in states.items()],
            NOW,
        )
        for transition in decision.transitions:
            assert transition.expected_state == states[transition.task_id]
            states[transition.task_id] = transition.new_state
        if decision.run_state is not None:
            final = decision.run_state[1]
            assert all(s in FINAL for s in states.values())
            leaves = [n for n in names if not any(n in t.upstream for t in tasks.values())]
            assert (final == "failed") == any(
                states[leaf] in ("failed", "upstream_failed") for leaf in leaves
            )
            return
        for name, state in states.items():
            if state == "queued":
                states[name] = data.draw(st.sampled_from(["success", "failed", "skipped"]))
    raise AssertionError(f"the run never finished: {states}")


def test_admission_order_is_priority_then_dags_taking_turns_then_older_runs() -> None:
    def run(dag_id: str, day: int) -> RunView:
        return RunView(
            dag_id=dag_id,
            run_id=f"r{day}",
            state=RunState.RUNNING,
            logical_date=NOW + timedelta(days=day),
        )

    def queue(task_id: str, weight: int = 1) -> Transition:
        return Transition(
            task_id=task_id,
            expected_state=State.NONE,
            expected_try_number=0,
            new_state=State.QUEUED,
            priority_weight=weight,
        )

    big, small = run("big", 0), run("small", 1)
    failing = Transition(
        task_id="x", expected_state=State.RUNNING, expected_try_number=1, new_state=State.FAILED
    )
    items = [(big, queue(f"b{i}")) for i in range(3)] + [
        (small, queue("s0")),
        (small, queue("urgent", 10)),
        (big, failing),
    ]
    ordered = [(r.dag_id, t.task_id) for r, t in order_for_admission(items)]
    assert ordered == [
        ("big", "x"),  # frees capacity: first
        ("small", "urgent"),  # highest priority
        ("big", "b0"),  # then the DAGs take turns at equal priority
        ("small", "s0"),
        ("big", "b1"),
        ("big", "b2"),
    ]


def test_queueing_beyond_open_slots_or_dag_room_is_held_back() -> None:
    run_a = RunView(dag_id="a", run_id="r", state=RunState.RUNNING)
    run_b = RunView(dag_id="b", run_id="r", state=RunState.RUNNING)

    def queue(task_id: str, pool: str = "p", slots: int = 1) -> Transition:
        return Transition(
            task_id=task_id,
            expected_state=State.NONE,
            expected_try_number=0,
            new_state=State.QUEUED,
            pool=pool,
            pool_slots=slots,
        )

    retry = Transition(
        task_id="x",
        expected_state=State.RUNNING,
        expected_try_number=1,
        new_state=State.UP_FOR_RETRY,
    )
    items = [
        (run_a, retry),
        (run_a, queue("a1")),
        (run_a, queue("a2", slots=2)),
        (run_b, queue("b1")),
        (run_b, queue("b2", pool="free")),
        (run_a, queue("a3", pool="free")),
    ]
    sent, held = within_capacity(items, {"p": 2, "free": -1}, {"a": 2, "b": 5})
    assert [t.task_id for _, t in sent] == ["x", "a1", "b1", "b2", "a3"]
    assert [t.task_id for _, t in held] == ["a2"]
