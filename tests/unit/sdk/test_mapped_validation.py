"""Mistakes in partial(), expand() and expand_kwargs() fail when the DAG is built, as in Airflow."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind import DAG, BashOperator, DagDefinitionError, EmptyOperator, PythonOperator, task

START = datetime(2024, 1, 1, tzinfo=UTC)


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def make_list() -> list[int]:
    return [1, 2]


@task(multiple_outputs=True)
def make_dict() -> dict[str, Any]:
    return {"numbers": [1, 2]}


def in_dag() -> DAG:
    return DAG(dag_id="checks", start_date=START, schedule=None)


def exactly(message: str) -> str:
    """A ``match`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


def starting(message: str) -> str:
    """A ``match`` pattern for a message that starts with ``message``."""
    return f"^{re.escape(message)}"


def test_expand_needs_arguments() -> None:
    with in_dag():
        with pytest.raises(TypeError, match=exactly("no arguments to expand against")):
            add.expand()
        with pytest.raises(TypeError, match=exactly("no arguments to expand against")):
            BashOperator.partial(task_id="echo").expand()


def test_an_argument_given_to_partial_and_expand() -> None:
    with in_dag():
        with pytest.raises(TypeError, match=exactly("mapping already partial argument: y")):
            add.partial(y=1).expand(y=[1, 2])
        with pytest.raises(
            TypeError, match=exactly("unmappable or already specified argument: bash_command")
        ):
            BashOperator.partial(task_id="echo", bash_command="x").expand(bash_command=["a"])
        with pytest.raises(TypeError, match=exactly("duplicate partial argument: y")):
            add.partial(y=1).partial(y=2)


def test_base_operator_arguments_cannot_be_mapped() -> None:
    with in_dag():
        with pytest.raises(
            TypeError, match=exactly("unmappable or already specified argument: retries")
        ):
            BashOperator.partial(task_id="echo").expand(bash_command=["a"], retries=[1, 2])
        with pytest.raises(
            TypeError, match=exactly("unmappable or already specified argument: task_id")
        ):
            BashOperator.partial(task_id="echo").expand(task_id=["a", "b"])


def test_unknown_argument_names() -> None:
    with in_dag():
        with pytest.raises(
            TypeError, match=exactly("expand() got an unexpected keyword argument 'z'")
        ):
            add.expand(z=[1])
        with pytest.raises(
            TypeError, match=exactly("expand() got unexpected keyword arguments 'z', 'w'")
        ):
            add.expand(x=[1], z=[1], w=[2])
        with pytest.raises(
            TypeError, match=exactly("partial() got an unexpected keyword argument 'z'")
        ):
            add.partial(z=1)
        with pytest.raises(
            TypeError,
            match=exactly("BashOperator.expand() got an unexpected keyword argument 'command'"),
        ):
            BashOperator.partial(task_id="echo").expand(command=["a"])
        with pytest.raises(
            TypeError,
            match=exactly("BashOperator.partial() got an unexpected keyword argument 'command'"),
        ):
            BashOperator.partial(task_id="echo", command="a")


def test_context_keys_cannot_be_mapped() -> None:
    @task
    def uses_context(x: int, ds: str | None = None) -> str:
        return f"{x} {ds}"

    with in_dag():
        with pytest.raises(
            ValueError, match=exactly("cannot call expand() on task context variable 'ds'")
        ):
            uses_context.expand(x=[1], ds=["2024-01-01"])
        with pytest.raises(
            ValueError, match=exactly("cannot call partial() on task context variable 'ds'")
        ):
            uses_context.partial(ds="2024-01-01")


@pytest.mark.parametrize("literal", ["abc", 3, None, b"xy"])
def test_expand_refuses_values_that_are_not_lists_or_dicts(literal: Any) -> None:
    kind = type(literal).__name__
    with in_dag():
        with pytest.raises(
            ValueError,
            match=exactly(f"expand() got an unexpected type '{kind}' for keyword argument 'x'"),
        ):
            add.partial(y=1).expand(x=literal)
        with pytest.raises(
            ValueError,
            match=exactly(
                f"BashOperator.expand() got an unexpected type '{kind}'"
                " for keyword argument bash_command"
            ),
        ):
            BashOperator.partial(task_id="echo").expand(bash_command=literal)


@pytest.mark.parametrize(
    ("value", "kind"),
    [("abc", "str"), ({"x": 1}, "dict"), ([{"x": 1}, 2], "list"), (5, "int")],
)
def test_expand_kwargs_needs_a_list_of_dicts_or_an_xcom_arg(value: Any, kind: str) -> None:
    with in_dag():
        with pytest.raises(TypeError, match=exactly(f"expected XComArg or list[dict], not {kind}")):
            add.expand_kwargs(value)
        with pytest.raises(TypeError, match=exactly(f"expected XComArg or list[dict], not {kind}")):
            BashOperator.partial(task_id="echo").expand_kwargs(value)


def test_partial_needs_a_task_id() -> None:
    with (
        in_dag(),
        pytest.raises(
            TypeError,
            match=exactly("partial() missing 1 required keyword-only argument: 'task_id'"),
        ),
    ):
        BashOperator.partial(retries=1)


def test_partial_is_for_classes_only() -> None:
    with in_dag():
        echo = EmptyOperator(task_id="echo")
        with pytest.raises(
            TypeError, match=starting("partial can only be called on Operator classes, not Tasks")
        ):
            echo.partial(task_id="other")


def test_only_return_values_can_be_mapped_over() -> None:
    with in_dag():
        numbers = make_dict()["numbers"]
        with pytest.raises(
            ValueError, match=starting("cannot map over XCom with custom key 'numbers'")
        ):
            add.partial(y=1).expand(x=numbers)
        with pytest.raises(
            ValueError, match=starting("cannot map over XCom with custom key 'numbers'")
        ):
            BashOperator.partial(task_id="echo").expand(bash_command=numbers)
        with pytest.raises(
            ValueError, match=starting("cannot map over XCom with custom key 'numbers'")
        ):
            BashOperator.partial(task_id="echo2").expand_kwargs(numbers)
        with pytest.raises(
            ValueError, match=starting("cannot map over XCom with custom key 'numbers'")
        ):
            add.partial(y=1).expand(x=make_list().zip(numbers))
        with pytest.raises(ValueError, match=exactly("cannot map against non-return XCom")):
            numbers.map(str)
        with pytest.raises(ValueError, match=exactly("cannot map against non-return XCom")):
            numbers.zip(make_list())
        with pytest.raises(ValueError, match=exactly("cannot concatenate non-return XCom")):
            numbers.concat(make_list())


def test_map_takes_a_plain_function() -> None:
    with in_dag():
        with pytest.raises(ValueError, match=starting("map() argument must be a plain function")):
            make_list().map(add)
        with pytest.raises(TypeError, match=starting("map() argument must be callable")):
            make_list().map(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=starting("zip() arguments must be XComArgs")):
            make_list().zip([1, 2])  # type: ignore[arg-type]


def test_trigger_rule_always_cannot_map_over_task_output() -> None:
    @task(trigger_rule="always")
    def hello(name: str, greeting: str = "Hello") -> str:
        return f"{greeting}, {name}"

    with in_dag():
        with pytest.raises(
            ValueError, match="using 'expand' is not allowed with trigger rule 'always'"
        ):
            hello.expand(name=make_list())
        with pytest.raises(
            ValueError, match="using 'expand_kwargs' is not allowed with trigger rule 'always'"
        ):
            hello.expand_kwargs([{"name": make_list()}])
        hello.expand(name=["world", "moon"])  # literals are fine


def test_operator_arguments_are_still_checked() -> None:
    with in_dag():
        with pytest.raises(DagDefinitionError, match="pool_slots must be at least 1"):
            BashOperator.partial(task_id="echo", pool_slots=0).expand(bash_command=["a"])
        with pytest.raises(DagDefinitionError, match="map_index_template must be a str"):
            PythonOperator.partial(
                task_id="py",
                python_callable=print,
                map_index_template=3,
            ).expand(op_args=[[1]])

        @task(colour="blue")
        def paint(x: int) -> int:
            return x

        with pytest.raises(DagDefinitionError, match="invalid arguments were passed"):
            paint.expand(x=[1])


def test_a_failed_expand_adds_no_task() -> None:
    with in_dag() as dag, pytest.raises(TypeError):
        add.expand(z=[1])
    assert dag.task_dict == {}
