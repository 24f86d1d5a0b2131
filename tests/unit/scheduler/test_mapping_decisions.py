"""The scheduler's decisions for mapped tasks: expansion, and trigger rules over map indexes."""

from __future__ import annotations

from datetime import UTC, datetime

from core.mapping import LengthSpec
from core.states import DagRunState as RunState
from core.states import TaskInstanceState as State
from core.trigger_rules import TriggerRule
from scheduler.decisions import RunView, TaskInstanceView, TaskSpec, decide_run

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
RUN = RunView(dag_id="d", run_id="r", state=RunState.RUNNING)
OVER_MAKE = LengthSpec("upstream", task_id="make")


def dag(
    length: LengthSpec = OVER_MAKE, rule: TriggerRule = TriggerRule.ALL_SUCCESS
) -> dict[str, TaskSpec]:
    return {
        "make": TaskSpec(task_id="make"),
        "add": TaskSpec(task_id="add", upstream=frozenset({"make"}), map_length=length),
        "total": TaskSpec(task_id="total", upstream=frozenset({"add"}), trigger_rule=rule),
    }


def view(task: str, state: str, index: int = -1, **fields: object) -> TaskInstanceView:
    return TaskInstanceView(task_id=task, map_index=index, state=State(state), **fields)  # type: ignore[arg-type]


def test_a_mapped_task_expands_once_its_upstream_pushed_the_list() -> None:
    decision = decide_run(
        RUN,
        dag(),
        [view("make", "success", output_length=3), view("add", "none"), view("total", "none")],
        NOW,
    )
    (expand,) = decision.transitions
    assert (expand.task_id, expand.map_index, expand.expand_to) == ("add", -1, 3)
    assert expand.new_state == expand.expected_state == "none"
    assert decision.run_state is None  # expanding is progress, not a stuck run


def test_expanded_instances_are_queued_and_the_reduce_waits_for_every_one() -> None:
    instances = [view("add", "none", i) for i in range(3)]
    decision = decide_run(
        RUN,
        dag(),
        [view("make", "success", output_length=3), *instances, view("total", "none")],
        NOW,
    )
    assert sorted((t.task_id, t.map_index, t.new_state) for t in decision.transitions) == [
        ("add", 0, "queued"),
        ("add", 1, "queued"),
        ("add", 2, "queued"),
    ]
    partly = [view("add", "success", 0), view("add", "running", 1), view("add", "success", 2)]
    waiting = decide_run(
        RUN, dag(), [view("make", "success", output_length=3), *partly, view("total", "none")], NOW
    )
    assert not waiting.transitions
    done = [view("add", "success", i) for i in range(3)]
    reduce = decide_run(
        RUN, dag(), [view("make", "success", output_length=3), *done, view("total", "none")], NOW
    )
    assert [(t.task_id, t.new_state) for t in reduce.transitions] == [("total", "queued")]


def test_one_failed_map_index_fails_the_reduce_under_all_success_not_under_all_done() -> None:
    ended = [view("add", "success", 0), view("add", "failed", 1), view("add", "success", 2)]
    before = [view("make", "success", output_length=3), *ended, view("total", "none")]
    strict = decide_run(RUN, dag(), before, NOW)
    assert [(t.task_id, t.new_state) for t in strict.transitions] == [("total", "upstream_failed")]
    assert strict.run_state == ("running", "failed")
    lenient = decide_run(RUN, dag(rule=TriggerRule.ALL_DONE), before, NOW)
    assert [(t.task_id, t.new_state) for t in lenient.transitions] == [("total", "queued")]


def test_an_empty_list_skips_the_mapped_task_and_its_downstream() -> None:
    decision = decide_run(
        RUN,
        dag(),
        [view("make", "success", output_length=0), view("add", "none"), view("total", "none")],
        NOW,
    )
    assert [(t.task_id, t.new_state) for t in decision.transitions] == [
        ("add", "skipped"),
        ("total", "skipped"),
    ]
    assert decision.run_state == ("running", "success")


def test_more_map_indexes_than_max_map_length_fail_the_task_with_a_reason() -> None:
    literal = dag(LengthSpec("product", parts=(LengthSpec("literal", value=40),) * 2))
    decision = decide_run(
        RUN,
        literal,
        [view("make", "success"), view("add", "none"), view("total", "none")],
        NOW,
        max_map_length=1000,
    )
    failed = decision.transitions[0]
    assert (failed.task_id, failed.new_state) == ("add", "failed")
    assert failed.reason == "expanding to 1600 map indexes exceeds max_map_length 1000"


def test_a_source_that_pushed_nothing_makes_the_mapped_task_upstream_failed() -> None:
    decision = decide_run(
        RUN,
        dag(rule=TriggerRule.ALL_DONE),
        [view("make", "success"), view("add", "none"), view("total", "none")],
        NOW,
    )
    failed = decision.transitions[0]
    assert (failed.task_id, failed.new_state) == ("add", "upstream_failed")
    assert failed.reason == "nothing to map over: make pushed no return value"


def test_a_mapped_upstream_gives_one_item_per_instance_that_returned_a_value() -> None:
    tasks = {
        "make": TaskSpec(task_id="make", map_length=LengthSpec("literal", value=3)),
        "again": TaskSpec(
            task_id="again",
            upstream=frozenset({"make"}),
            map_length=LengthSpec("upstream", task_id="make"),
        ),
    }
    made = [
        view("make", "success", 0, output_length=1),
        view("make", "success", 1, output_length=0),  # returned None
        view("make", "success", 2, output_length=1),
    ]
    decision = decide_run(RUN, tasks, [*made, view("again", "none")], NOW)
    (expand,) = decision.transitions
    assert (expand.task_id, expand.expand_to) == ("again", 2)


def test_instances_kept_from_an_earlier_expansion_wait_for_the_next_one() -> None:
    """A cleared mapped task is folded back to its unexpanded instance; the rest wait."""
    decision = decide_run(
        RUN,
        dag(),
        [
            view("make", "running", try_number=1),
            view("add", "none"),
            view("add", "none", 1),
            view("total", "none"),
        ],
        NOW,
    )
    assert not decision.transitions


def test_a_failed_map_index_retries_alone() -> None:
    instances = [
        view("add", "success", 0),
        view("add", "up_for_retry", 1, try_number=1, max_tries=2),
        view("add", "success", 2),
    ]
    decision = decide_run(
        RUN,
        dag(),
        [view("make", "success", output_length=3), *instances, view("total", "none")],
        NOW,
    )
    assert [(t.task_id, t.map_index, t.new_state) for t in decision.transitions] == [
        ("add", 1, "queued")
    ]


def test_a_task_mapped_over_a_literal_expands_at_once_and_its_instances_wait() -> None:
    tasks = {
        "start": TaskSpec(task_id="start"),
        "each": TaskSpec(
            task_id="each", upstream=frozenset({"start"}), map_length=LengthSpec("literal", value=2)
        ),
    }
    decision = decide_run(RUN, tasks, [view("start", "running"), view("each", "none")], NOW)
    (expand,) = decision.transitions
    assert (expand.task_id, expand.expand_to) == ("each", 2)


def test_a_mapped_source_is_known_only_when_every_instance_finished() -> None:
    tasks = {
        "make": TaskSpec(task_id="make", map_length=LengthSpec("literal", value=2)),
        "again": TaskSpec(
            task_id="again",
            upstream=frozenset({"make"}),
            map_length=LengthSpec("upstream", task_id="make"),
        ),
    }
    running = [view("make", "success", 0, output_length=1), view("make", "running", 1)]
    assert not decide_run(RUN, tasks, [*running, view("again", "none")], NOW).transitions


def group_dag() -> dict[str, TaskSpec]:
    """make >> [g.first >> g.second] >> after, the group mapped over make's list."""
    over = LengthSpec("upstream", task_id="make")
    return {
        "make": TaskSpec(task_id="make"),
        "g.first": TaskSpec(
            task_id="g.first", upstream=frozenset({"make"}), map_length=over, mapped_group="g"
        ),
        "g.second": TaskSpec(
            task_id="g.second",
            upstream=frozenset({"g.first"}),
            map_length=over,
            mapped_group="g",
        ),
        "after": TaskSpec(task_id="after", upstream=frozenset({"g.second"})),
    }


def test_a_mapped_group_expands_its_tasks_together_and_runs_each_index_on_its_own() -> None:
    made = view("make", "success", output_length=2)
    expanding = decide_run(
        RUN, group_dag(), [made, view("g.first", "none"), view("g.second", "none")], NOW
    )
    assert sorted((t.task_id, t.expand_to) for t in expanding.transitions) == [
        ("g.first", 2),
        ("g.second", 2),
    ]
    # Index 0 of first is done: index 0 of second runs, without waiting for index 1.
    instances = [
        made,
        view("g.first", "success", 0),
        view("g.first", "running", 1),
        view("g.second", "none", 0),
        view("g.second", "none", 1),
        view("after", "none"),
    ]
    decision = decide_run(RUN, group_dag(), instances, NOW)
    assert [(t.task_id, t.map_index, t.new_state) for t in decision.transitions] == [
        ("g.second", 0, "queued")
    ]


def test_a_failed_index_in_a_mapped_group_fails_only_its_own_downstream_index() -> None:
    instances = [
        view("make", "success", output_length=2),
        view("g.first", "failed", 0),
        view("g.first", "success", 1),
        view("g.second", "none", 0),
        view("g.second", "none", 1),
        view("after", "none"),
    ]
    decision = decide_run(RUN, group_dag(), instances, NOW)
    assert sorted((t.task_id, t.map_index, t.new_state) for t in decision.transitions) == [
        ("after", -1, "upstream_failed"),
        ("g.second", 0, "upstream_failed"),
        ("g.second", 1, "queued"),
    ]
