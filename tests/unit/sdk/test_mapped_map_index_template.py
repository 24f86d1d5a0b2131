"""map_index_template: each mapped instance is named by its template, rendered after the try."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tradewind import DAG, BaseOperator, BashOperator, EmptyOperator, get_current_context, task
from tradewind.sdk.execution import TaskOutcome, TaskResult, execute_task
from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.runtime import use_runtime

from .conftest import context_for

START = datetime(2024, 1, 1, tzinfo=UTC)


def run_instance(task_: BaseOperator, store: InMemoryStore, map_index: int = -1) -> TaskResult:
    with use_runtime(store.runtime_for(task_.task_id, map_index)):
        return execute_task(task_, context_for(task_, map_index=map_index))


def names(task_: BaseOperator, store: InMemoryStore, count: int) -> list[str | None]:
    return [run_instance(task_, store, index).rendered_map_index for index in range(count)]


def test_template_over_the_rendered_task_fields(store: InMemoryStore) -> None:
    with DAG(dag_id="named", start_date=START, schedule=None):

        @task(map_index_template="{{ task.op_kwargs['x'] }}")
        def double(x: int) -> int:
            return 2 * x

        doubled = double.expand(x=[3, 4])
        echo = BashOperator.partial(
            task_id="echo", map_index_template="{{ task.bash_command }}"
        ).expand(bash_command=["echo {{ ds }}", "echo two"])
    assert names(doubled.operator, store, 2) == ["3", "4"]
    assert names(echo, store, 2) == ["echo 2024-03-15", "echo two"]


def test_the_task_can_set_what_the_template_reads(store: InMemoryStore) -> None:
    with DAG(dag_id="named", start_date=START, schedule=None):

        @task(map_index_template="{{ my_variable }}")
        def my_task(my_value: str) -> None:
            context = get_current_context()
            context["my_variable"] = my_value * 3

        made = my_task.expand(my_value=["a", "b"])
    assert names(made.operator, store, 2) == ["aaa", "bbb"]


def test_the_context_has_the_template_and_the_task_may_replace_it(
    store: InMemoryStore,
) -> None:
    seen: list[Any] = []
    with DAG(dag_id="named", start_date=START, schedule=None):

        @task(map_index_template="{{ ds }}")
        def rename(x: int) -> None:
            context = get_current_context()
            seen.append(context["map_index_template"])
            context["map_index_template"] = f"item {x}"

        renamed = rename.expand(x=[5])
    assert names(renamed.operator, store, 1) == ["item 5"]
    assert seen == ["{{ ds }}"]


def test_no_template_or_no_mapping_gives_no_name(store: InMemoryStore) -> None:
    with DAG(dag_id="named", start_date=START, schedule=None):

        @task
        def plain(x: int) -> int:
            return x

        @task(map_index_template="{{ ds }}")
        def unmapped() -> int:
            return 1

        mapped = plain.expand(x=[1])
        single = unmapped()
        empty = EmptyOperator(task_id="empty", map_index_template="{{ ds }}")
    assert names(mapped.operator, store, 1) == [None]
    assert run_instance(single.operator, store).rendered_map_index is None
    assert run_instance(empty, store).rendered_map_index is None


def test_failed_and_skipped_tries_are_named_too(store: InMemoryStore) -> None:
    with DAG(dag_id="named", start_date=START, schedule=None):
        echo = BashOperator.partial(
            task_id="echo", map_index_template="exit {{ task.bash_command[-2:] }}"
        ).expand(bash_command=["exit 1", "exit 99"])
    failed, skipped = (run_instance(echo, store, index) for index in range(2))
    assert (failed.outcome, failed.rendered_map_index) == (TaskOutcome.FAILED, "exit  1")
    assert (skipped.outcome, skipped.rendered_map_index) == (TaskOutcome.SKIPPED, "exit 99")


def test_a_bad_template_fails_a_successful_try_only(store: InMemoryStore) -> None:
    with DAG(dag_id="named", start_date=START, schedule=None):

        @task(map_index_template="{{ missing }}")
        def works(x: int) -> int:
            return x

        @task(map_index_template="{{ missing }}")
        def breaks(x: int) -> int:
            raise ValueError("broken")

        good = works.expand(x=[1])
        bad = breaks.expand(x=[1])
    result = run_instance(good.operator, store, 0)
    assert result.outcome is TaskOutcome.FAILED
    assert result.error is not None
    assert "map_index_template" in result.error.message
    assert "'missing' is undefined" in result.error.message
    broken = run_instance(bad.operator, store, 0)
    assert broken.error is not None
    assert broken.error.message == "broken"
    assert broken.rendered_map_index is None
