"""TaskFlow: @task and its flavours, XComArg wiring, multiple_outputs, DAG params."""

from __future__ import annotations

from typing import Any

import pytest

from tradewind import (
    DAG,
    DagDefinitionError,
    EmptyOperator,
    PythonOperator,
    TaskGroup,
    XComArg,
    dag,
    get_current_context,
    task,
)
from tradewind.sdk.execution import TaskOutcome, execute_task
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore
from tradewind.sdk.runtime import use_runtime
from tradewind.sdk.taskflow import (
    _BashDecoratedOperator,
    _BranchPythonDecoratedOperator,
    _PythonDecoratedOperator,
    _ShortCircuitDecoratedOperator,
)

from .conftest import context_for


def test_calling_a_task_returns_an_xcomarg_and_wires_arguments() -> None:
    with DAG("d") as built:

        @task
        def extract() -> int:
            return 1

        @task(retries=2, task_id="double_it")
        def double(value: int, *, factor: int = 2) -> int:
            return value * factor

        first = extract()
        second = double(first, factor=extract())
    assert isinstance(first, XComArg)
    assert second.operator.task_id == "double_it"
    assert second.operator.retries == 2
    assert built.get_task("double_it").upstream_task_ids == {"extract", "extract__1"}
    assert isinstance(built.get_task("extract"), _PythonDecoratedOperator)


def test_operator_output_and_nested_xcomargs_create_edges() -> None:
    with DAG("d") as built:
        source = PythonOperator(task_id="source", python_callable=lambda: {"k": 1})
        sink = PythonOperator(
            task_id="sink",
            python_callable=lambda data: data,
            op_kwargs={"data": {"nested": [source.output["k"]]}},
        )
    assert sink.upstream_task_ids == {"source"}
    assert built.get_task("source").downstream_task_ids == {"sink"}


def test_xcomarg_is_not_iterable_and_links_like_a_task() -> None:
    with DAG("d") as built:

        @task
        def make() -> int:
            return 1

        made = make()
        end = EmptyOperator(task_id="end")
        made >> end
        with pytest.raises(TypeError, match="not iterable"):
            list(made)
    assert built.get_task("end").upstream_task_ids == {"make"}


def test_arguments_are_resolved_from_xcom_at_run_time(store: InMemoryStore) -> None:
    with DAG("d"):

        @task
        def add(a: int, b: int) -> int:
            return a + b

        @task(multiple_outputs=True)
        def pair() -> Any:
            return {"a": 2, "b": 3}

        result = pair()
        total = add(result["a"], b=result["b"])
    store.xcoms["pair"] = {"a": 2, "b": 3}
    with use_runtime(store.runtime_for("add")):
        outcome = execute_task(total.operator, context_for(total.operator))
    assert outcome.outcome is TaskOutcome.SUCCESS
    assert outcome.xcoms == {"return_value": 5}


def test_multiple_outputs_is_inferred_from_a_dict_return_annotation() -> None:
    with DAG("d"):

        @task
        def as_dict() -> dict[str, int]:
            return {}

        @task
        def as_int() -> int:
            return 1

        inferred, plain = as_dict(), as_int()
    assert inferred.operator.multiple_outputs is True
    assert plain.operator.multiple_outputs is False


def test_repeated_calls_get_suffixes_inside_groups_too() -> None:
    with DAG("d") as built:

        @task
        def step() -> None:
            pass

        step()
        step()
        with TaskGroup("g"):
            step()
            step()
    assert built.task_ids == ["step", "step__1", "g.step", "g.step__1"]


def test_override_changes_operator_arguments() -> None:
    with DAG("d") as built:

        @task
        def step() -> None:
            pass

        step.override(task_id="custom", queue="gpu")()
    assert built.get_task("custom").queue == "gpu"


def test_flavours_make_their_operators() -> None:
    with DAG("d") as built:

        @task.python
        def p() -> None:
            pass

        @task.branch
        def b() -> str:
            return "p"

        @task.short_circuit
        def s() -> bool:
            return True

        @task.bash
        def sh() -> str:
            return "echo hi"

        p(), b(), s(), sh()
    assert isinstance(built.get_task("p"), _PythonDecoratedOperator)
    assert isinstance(built.get_task("b"), _BranchPythonDecoratedOperator)
    assert isinstance(built.get_task("s"), _ShortCircuitDecoratedOperator)
    assert isinstance(built.get_task("sh"), _BashDecoratedOperator)


def test_bad_call_arguments_fail_when_the_dag_is_built() -> None:
    with DAG("d"):

        @task
        def one(value: int) -> int:
            return value

        with pytest.raises(DagDefinitionError, match=r"task 'one': bad arguments for one\(\)"):
            one(1, 2)


def test_context_parameters_are_injected(runtime: InMemoryRuntime) -> None:
    with DAG("d", params={"size": 3}):

        @task
        def uses_context(ds: str | None = None, **context: Any) -> str:
            return f"{ds} {context['params']['size']} {context['ti'].task_id}"

        made = uses_context()
    outcome = execute_task(made.operator, context_for(made.operator))
    assert outcome.xcoms["return_value"] == "2024-03-15 3 uses_context"


def test_context_parameter_with_a_default_is_refused() -> None:
    with DAG("d"):

        @task
        def wrong(ds: str = "x") -> None:
            pass

        with pytest.raises(DagDefinitionError, match="'ds' can't have a default"):
            wrong()


def test_get_current_context_inside_a_task(runtime: InMemoryRuntime) -> None:
    with DAG("d"):

        @task
        def current() -> str:
            return str(get_current_context()["run_id"])

        made = current()
    outcome = execute_task(made.operator, context_for(made.operator))
    assert outcome.xcoms["return_value"] == "run_1"


def test_dag_decorator_turns_function_parameters_into_params(runtime: InMemoryRuntime) -> None:
    @dag(schedule=None)
    def with_params(limit: int = 5) -> None:
        """Docs of the DAG."""

        @task
        def show(value: int) -> int:
            return value

        show(limit)

    built = with_params()
    assert built.dag_id == "with_params"
    assert built.params == {"limit": 5}
    assert built.doc_md == "Docs of the DAG."
    show = built.get_task("show")
    outcome = execute_task(show, context_for(show, conf={"limit": 9}))
    assert outcome.xcoms["return_value"] == 9
