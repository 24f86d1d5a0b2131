"""Running instances of mapped tasks: each map index gets its own arguments, then runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind import (
    DAG,
    AirflowSkipException,
    BaseOperator,
    BashOperator,
    PythonOperator,
    get_current_context,
    task,
)
from tradewind.sdk.execution import TaskOutcome, TaskResult, execute_task
from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.runtime import use_runtime

from .conftest import context_for

START = datetime(2024, 1, 1, tzinfo=UTC)


def run_instance(task_: BaseOperator, store: InMemoryStore, map_index: int = -1) -> TaskResult:
    """Run one try of one instance and keep the XComs it pushes, as the executor does."""
    runtime = store.runtime_for(task_.task_id, map_index)
    with use_runtime(runtime):
        result = execute_task(task_, context_for(task_, map_index=map_index))
    for key, value in result.xcoms.items():
        runtime.push_xcom(key, value)
    return result


def run_all(task_: BaseOperator, store: InMemoryStore, count: int) -> list[Any]:
    """The return value of each of ``count`` instances, in map index order."""
    results = [run_instance(task_, store, index) for index in range(count)]
    assert [r.outcome for r in results] == [TaskOutcome.SUCCESS] * count, results
    return [r.xcoms.get("return_value") for r in results]


def failure(result: TaskResult) -> str:
    assert result.outcome is TaskOutcome.FAILED
    assert result.error is not None
    return result.error.message


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def show(value: Any) -> Any:
    return value


def test_partial_and_expand_over_a_literal_list(store: InMemoryStore) -> None:
    with DAG(dag_id="literal", start_date=START, schedule=None):
        added = add.partial(y=10).expand(x=[1, 2, 3])
    assert run_all(added.operator, store, 3) == [11, 12, 13]
    assert store.mapped_xcoms[("add", 2)] == {"return_value": 13}


def test_cross_product_varies_the_last_argument_fastest(store: InMemoryStore) -> None:
    with DAG(dag_id="product", start_date=START, schedule=None):
        added = add.expand(x=[1, 2], y=[10, 20, 30])
    assert run_all(added.operator, store, 6) == [11, 21, 31, 12, 22, 32]


def test_a_dict_gives_key_value_pairs(store: InMemoryStore) -> None:
    with DAG(dag_id="pairs", start_date=START, schedule=None):
        shown = show.expand(value={"a": 1, "b": 2})
    assert run_all(shown.operator, store, 2) == [("a", 1), ("b", 2)]


def test_expand_over_an_upstream_return_value(store: InMemoryStore) -> None:
    with DAG(dag_id="upstream", start_date=START, schedule=None):

        @task
        def make_list() -> list[Any]:
            return [1, 2, {"a": "b"}, "str"]

        @task
        def consumer(arg: Any) -> Any:
            return arg

        consumed = consumer.expand(arg=make_list())
    run_instance(consumed.operator.dag.get_task("make_list"), store)  # type: ignore[union-attr]
    assert run_all(consumed.operator, store, 4) == [1, 2, {"a": "b"}, "str"]


def test_expand_over_an_upstream_dict(store: InMemoryStore) -> None:
    store.xcoms["make_dict"] = {"return_value": {"k1": "v1", "k2": "v2"}}
    with DAG(dag_id="upstream", start_date=START, schedule=None):

        @task
        def make_dict() -> dict[str, str]:
            return {}

        shown = show.expand(value=make_dict())
    assert run_all(shown.operator, store, 2) == [("k1", "v1"), ("k2", "v2")]


def test_expand_over_a_mapped_upstream_takes_the_values_pushed(store: InMemoryStore) -> None:
    with DAG(dag_id="chained", start_date=START, schedule=None):
        added = add.partial(y=1).expand(x=[1, 2, 3])
        doubled = add.partial(y=100).expand(x=added)
    store.mapped_xcoms[("add", 0)] = {"return_value": 2}
    store.mapped_xcoms[("add", 2)] = {"return_value": 4}  # index 1 returned None
    assert run_all(doubled.operator, store, 2) == [102, 104]


def test_literal_and_upstream_arguments_combine(store: InMemoryStore) -> None:
    store.xcoms["numbers"] = {"return_value": [1, 2]}
    with DAG(dag_id="mixed", start_date=START, schedule=None):

        @task
        def numbers() -> list[int]:
            return []

        added = add.expand(x=numbers(), y=[10, 20])
    assert run_all(added.operator, store, 4) == [11, 21, 12, 22]


def test_expand_kwargs_with_literal_dicts(store: InMemoryStore) -> None:
    with DAG(dag_id="kwargs", start_date=START, schedule=None):
        added = add.expand_kwargs([{"x": 1, "y": 2}, {"x": 3, "y": 4}])
        partly = add.partial(y=100).expand_kwargs([{"x": 1}, {"x": 2}])
    assert run_all(added.operator, store, 2) == [3, 7]
    assert run_all(partly.operator, store, 2) == [101, 102]


def test_expand_kwargs_with_an_xcom_arg(store: InMemoryStore) -> None:
    store.xcoms["pairs"] = {"return_value": [{"x": 1, "y": 1}, {"x": 5, "y": 5}]}
    with DAG(dag_id="kwargs", start_date=START, schedule=None):

        @task
        def pairs() -> list[dict[str, int]]:
            return []

        added = add.expand_kwargs(pairs())
    assert run_all(added.operator, store, 2) == [2, 10]


def test_expand_kwargs_items_may_be_xcom_args(store: InMemoryStore) -> None:
    store.xcoms["one"] = {"return_value": {"x": 1, "y": 1}}
    with DAG(dag_id="kwargs", start_date=START, schedule=None):

        @task
        def one() -> dict[str, int]:
            return {}

        added = add.expand_kwargs([one(), {"x": 2, "y": 2}])
    assert run_all(added.operator, store, 2) == [2, 4]


def test_expand_kwargs_strict_refuses_partial_arguments(store: InMemoryStore) -> None:
    with DAG(dag_id="kwargs", start_date=START, schedule=None):
        strict = add.partial(y=1).expand_kwargs([{"x": 1, "y": 2}])
        lenient = add.override(task_id="lenient").partial(y=1)
        loose = lenient.expand_kwargs([{"x": 1, "y": 2}], strict=False)
        echo = BashOperator.partial(task_id="echo", env={"A": "1"}).expand_kwargs(
            [{"bash_command": "echo $A", "env": {"A": "2"}}]
        )
    assert failure(run_instance(strict.operator, store, 0)) == (
        "mapping already partial argument: y"
    )
    assert run_all(loose.operator, store, 1) == [3]
    assert failure(run_instance(echo, store, 0)) == (
        "unmappable or already specified argument: env"
    )


def test_expand_kwargs_checks_the_items(store: InMemoryStore) -> None:
    store.xcoms["bad"] = {"return_value": [1, 2]}
    store.xcoms["keys"] = {"return_value": [{1: "x"}]}
    with DAG(dag_id="kwargs", start_date=START, schedule=None):

        @task
        def bad() -> list[int]:
            return []

        @task
        def keys() -> list[dict[int, str]]:
            return []

        not_dicts = add.expand_kwargs(bad())
        int_keys = add.expand_kwargs(keys())
        unknown = add.expand_kwargs([{"x": 1, "y": 1, "z": 2}])
    assert "expand_kwargs() expects a list[dict]" in failure(
        run_instance(not_dicts.operator, store, 0)
    )
    assert failure(run_instance(int_keys.operator, store, 0)) == (
        "expand_kwargs() input dict keys must all be str, but 1 is of type int"
    )
    assert "bad arguments for add(): got an unexpected keyword argument 'z'" in failure(
        run_instance(unknown.operator, store, 0)
    )


def test_bash_operator_instances_really_run_bash(store: InMemoryStore) -> None:
    with DAG(dag_id="bash", start_date=START, schedule=None):
        echo = BashOperator.partial(task_id="echo", env={"WORD": "hello"}).expand(
            bash_command=["echo $WORD 1", "echo $WORD {{ ds }}", "exit 99"]
        )
    results = [run_instance(echo, store, index) for index in range(3)]
    assert results[0].xcoms == {"return_value": "hello 1"}
    assert results[1].xcoms == {"return_value": "hello 2024-03-15"}
    assert results[2].outcome is TaskOutcome.SKIPPED


def test_bash_operator_expand_kwargs_from_upstream(store: InMemoryStore) -> None:
    store.xcoms["commands"] = {
        "return_value": [{"bash_command": "echo a"}, {"bash_command": "echo $N", "env": {"N": "7"}}]
    }
    with DAG(dag_id="bash", start_date=START, schedule=None):

        @task
        def commands() -> list[dict[str, Any]]:
            return []

        echo = BashOperator.partial(task_id="e").expand_kwargs(commands())
    assert run_all(echo, store, 2) == ["a", "7"]


def test_python_operator_maps_over_op_kwargs_and_op_args(store: InMemoryStore) -> None:
    def greet(name: str, greeting: str = "Hello") -> str:
        return f"{greeting}, {name}"

    with DAG(dag_id="python", start_date=START, schedule=None):
        by_kwargs = PythonOperator.partial(task_id="by_kwargs", python_callable=greet).expand(
            op_kwargs=[{"name": "world"}, {"name": "moon", "greeting": "Bye"}]
        )
        by_args = PythonOperator.partial(task_id="by_args", python_callable=greet).expand(
            op_args=[["a"], ["b", "Hi"]]
        )
    assert run_all(by_kwargs, store, 2) == ["Hello, world", "Bye, moon"]
    assert run_all(by_args, store, 2) == ["Hello, a", "Hi, b"]


def test_map_applies_the_function_to_the_item_taken(store: InMemoryStore) -> None:
    store.xcoms["numbers"] = {"return_value": [1, 2, 3]}
    calls: list[int] = []

    def double(value: int) -> int:
        calls.append(value)
        return value * 2

    with DAG(dag_id="map", start_date=START, schedule=None):

        @task
        def numbers() -> list[int]:
            return []

        shown = show.expand(value=numbers().map(double).map(str))
    assert run_instance(shown.operator, store, 1).xcoms == {"return_value": "4"}
    assert calls == [2]
    assert run_all(shown.operator, store, 3) == ["2", "4", "6"]


def test_map_is_usable_as_a_plain_argument(store: InMemoryStore) -> None:
    store.xcoms["numbers"] = {"return_value": [1, 2, 3]}
    with DAG(dag_id="map", start_date=START, schedule=None):

        @task
        def numbers() -> list[int]:
            return []

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        summed = total(numbers().map(lambda v: v * 10))
    assert run_instance(summed.operator, store).xcoms == {"return_value": 60}


def test_map_over_a_dict_and_over_a_mapped_task(store: InMemoryStore) -> None:
    store.xcoms["config"] = {"return_value": {"a": 1, "b": 2}}
    store.mapped_xcoms.update({("add", 0): {"return_value": 5}, ("add", 1): {"return_value": 6}})
    with DAG(dag_id="map", start_date=START, schedule=None):

        @task
        def config() -> dict[str, int]:
            return {}

        added = add.partial(y=0).expand(x=[1, 2])
        pairs = show.expand(value=config().map(lambda kv: f"{kv[0]}={kv[1]}"))
        negated = show.expand(value=added.map(lambda v: -v))
    assert run_all(pairs.operator, store, 2) == ["a=1", "b=2"]
    assert run_all(negated.operator, store, 2) == [-5, -6]


def test_zip_and_concat_values(store: InMemoryStore) -> None:
    store.xcoms["letters"] = {"return_value": ["a", "b", "c"]}
    store.xcoms["numbers"] = {"return_value": [1, 2]}
    with DAG(dag_id="zip", start_date=START, schedule=None):

        @task
        def letters() -> list[str]:
            return []

        @task
        def numbers() -> list[int]:
            return []

        a, n = letters(), numbers()
        zipped = show.expand(value=a.zip(n))
        longest = show.expand(value=a.zip(n, fillvalue=None))
        chained = show.expand(value=a.concat(n, n.map(str)))
    assert run_all(zipped.operator, store, 2) == [("a", 1), ("b", 2)]
    assert run_all(longest.operator, store, 3) == [("a", 1), ("b", 2), ("c", None)]
    assert run_all(chained.operator, store, 7) == ["a", "b", "c", 1, 2, "1", "2"]


def test_values_from_xcom_are_not_rendered_as_templates(store: InMemoryStore) -> None:
    store.xcoms["texts"] = {"return_value": ["{{ ds }}"]}
    store.xcoms["commands"] = {"return_value": ["echo '{{ ds }}'"]}
    with DAG(dag_id="render", start_date=START, schedule=None):

        @task
        def texts() -> list[str]:
            return []

        @task
        def commands() -> list[str]:
            return []

        from_xcom = show.expand(value=texts())
        literal = show.override(task_id="literal").expand(value=["{{ ds }}"])
        echo = BashOperator.partial(task_id="echo").expand(bash_command=commands())
    assert run_all(from_xcom.operator, store, 1) == ["{{ ds }}"]
    assert run_all(literal.operator, store, 1) == ["2024-03-15"]
    assert run_all(echo, store, 1) == ["{{ ds }}"]


def test_the_instance_sees_its_map_index_and_rendered_task(store: InMemoryStore) -> None:
    with DAG(dag_id="context", start_date=START, schedule=None):

        @task
        def where(x: int) -> dict[str, Any]:
            context = get_current_context()
            return {
                "map_index": context["ti"].map_index,
                "x": context["task"].op_kwargs["x"],
                "mapped": context["task"].is_mapped,
            }

        located = where.expand(x=[7, 8])
    assert run_all(located.operator, store, 2) == [
        {"map_index": 0, "x": 7, "mapped": False},
        {"map_index": 1, "x": 8, "mapped": False},
    ]


def test_callbacks_skips_and_xcoms_behave_as_for_any_task(store: InMemoryStore) -> None:
    seen: list[str] = []

    def note(context: Any) -> None:
        seen.append(f"{context['ti'].map_index}:{type(context['task']).__name__}")

    with DAG(dag_id="behaviour", start_date=START, schedule=None):

        @task(
            multiple_outputs=True,
            on_success_callback=note,
            on_skipped_callback=note,
            on_failure_callback=note,
        )
        def judge(x: int) -> dict[str, int]:
            if x == 0:
                raise AirflowSkipException("nothing to do")
            if x < 0:
                raise ValueError("negative")
            return {"double": 2 * x}

        judged = judge.expand(x=[0, 3, -1])
    skipped, succeeded, failed = (run_instance(judged.operator, store, i) for i in range(3))
    assert skipped.outcome is TaskOutcome.SKIPPED
    assert succeeded.xcoms == {"double": 6, "return_value": {"double": 6}}
    assert failure(failed) == "negative"
    assert seen == [
        "0:_PythonDecoratedOperator",
        "1:_PythonDecoratedOperator",
        "2:_PythonDecoratedOperator",
    ]


def test_an_out_of_range_map_index_fails_the_try(store: InMemoryStore) -> None:
    store.xcoms["numbers"] = {"return_value": [1, 2]}
    with DAG(dag_id="range", start_date=START, schedule=None):

        @task
        def numbers() -> list[int]:
            return []

        literal = add.expand(x=[1, 2], y=[1, 2, 3])
        upstream = add.partial(y=0).expand(x=numbers())
        kwargs = add.expand_kwargs([{"x": 1, "y": 1}])
    assert failure(run_instance(literal.operator, store, 6)) == (
        "map index 6 of task 'add' is out of range: its expand() arguments make 6 instances"
        " (x: 2, y: 3 items)"
    )
    # the upstream value is shorter than the expansion the scheduler made: a length mismatch
    assert "map index 2 of task 'add__1' is out of range" in failure(
        run_instance(upstream.operator, store, 2)
    )
    assert "has 1 items" in failure(run_instance(kwargs.operator, store, 1))


def test_a_mapped_task_run_without_a_map_index_fails_the_try(store: InMemoryStore) -> None:
    with DAG(dag_id="range", start_date=START, schedule=None):
        added = add.expand(x=[1], y=[1])
    assert "runs as instances with a map index >= 0" in failure(
        run_instance(added.operator, store, -1)
    )


def test_an_unmappable_upstream_value_fails_the_try(store: InMemoryStore) -> None:
    store.xcoms["scalar"] = {"return_value": 5}
    with DAG(dag_id="range", start_date=START, schedule=None):

        @task
        def scalar() -> int:
            return 5

        @task
        def missing() -> list[int]:
            return []

        over_int = show.expand(value=scalar())
        over_none = show.expand(value=missing())
    message = failure(run_instance(over_int.operator, store, 0))
    assert message == (
        "expand() argument 'value' (XComArg('scalar', key='return_value')):"
        " unmappable return type 'int'"
    )
    assert "unmappable return type 'NoneType'" in failure(
        run_instance(over_none.operator, store, 0)
    )


def test_the_mapped_task_itself_is_not_changed(store: InMemoryStore) -> None:
    with DAG(dag_id="unchanged", start_date=START, schedule=None) as dag:
        echo = BashOperator.partial(task_id="echo").expand(bash_command=["echo {{ ds }}"])
    run_all(echo, store, 1)
    assert dag.get_task("echo") is echo
    assert echo.expand_input.value == {"bash_command": ["echo {{ ds }}"]}
    assert json.loads(json.dumps(echo.partial_kwargs)) == {}


@pytest.mark.parametrize("count", [0, 1])
def test_an_empty_or_single_literal(store: InMemoryStore, count: int) -> None:
    with DAG(dag_id="small", start_date=START, schedule=None):
        shown = show.expand(value=list(range(count)))
    assert run_all(shown.operator, store, count) == list(range(count))
