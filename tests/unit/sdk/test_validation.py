"""Every validation error names the DAG, the task and the problem."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tradewind import (
    DAG,
    BashOperator,
    CronDataIntervalTimetable,
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    EmptyOperator,
    Param,
    ParamValidationError,
    PythonOperator,
    TaskGroup,
)

from .conftest import START


def test_cycle_is_named_when_the_dag_block_ends() -> None:
    def build_loop() -> None:
        with DAG("loop"):
            a, b, c = (EmptyOperator(task_id=i) for i in "abc")
            a >> b >> c >> a

    with pytest.raises(DagCycleError) as caught:
        build_loop()
    assert str(caught.value) == "DAG 'loop', task 'a': cycle detected: a -> b -> c -> a"
    assert caught.value.cycle == ["a", "b", "c", "a"]
    assert caught.value.dag_id == "loop"


def test_self_loop_is_a_cycle() -> None:
    dag = DAG("self_loop")
    a = EmptyOperator(task_id="a", dag=dag)
    a >> a
    with pytest.raises(DagCycleError, match="cycle detected: a -> a"):
        dag.validate()


def test_duplicate_task_id() -> None:
    with DAG("dup"):
        EmptyOperator(task_id="same")
        with pytest.raises(DuplicateTaskIdError) as caught:
            EmptyOperator(task_id="same")
    assert str(caught.value) == (
        "DAG 'dup', task 'same': task id 'same' has already been added to the DAG"
    )


def test_task_id_clashing_with_a_group_id() -> None:
    with DAG("clash"):
        TaskGroup("g", prefix_group_id=False)
        with pytest.raises(DuplicateTaskIdError, match="task 'g'"):
            EmptyOperator(task_id="g")
        with pytest.raises(DuplicateTaskIdError, match="group_id 'g' has already been added"):
            TaskGroup("g")


def test_task_in_two_dags() -> None:
    first, second = DAG("first"), DAG("second")
    shared = EmptyOperator(task_id="shared", dag=first)
    with pytest.raises(DagDefinitionError) as caught:
        second.add_task(shared)
    assert str(caught.value) == (
        "DAG 'second', task 'shared': the task already belongs to DAG 'first';"
        " a task can belong to one DAG only"
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"trigger_rule": "all_good"}, "trigger_rule must be one of 'all_success'"),
        ({"retries": "x"}, "retries must be an int, got str ('x')"),
        ({"retries": -1}, "retries must be at least 0, got -1"),
        ({"retries": True}, "retries must be an int, got bool"),
        ({"pool_slots": 0}, "pool_slots must be at least 1, got 0"),
        ({"retry_delay": "5m"}, "retry_delay must be a timedelta or a number of seconds"),
        ({"retry_delay": -5}, "retry_delay must not be negative"),
        ({"max_retry_delay": [1]}, "max_retry_delay must be a timedelta or a number"),
        ({"execution_timeout": 30}, "execution_timeout must be a timedelta, got int"),
        ({"priority_weight": 2**40}, "priority_weight must be at most 2147483647"),
        ({"weight_rule": "sideways"}, "weight_rule must be one of 'downstream'"),
        ({"pool": ""}, "pool must not be empty"),
        ({"queue": 3}, "queue must be a str, got int"),
        ({"on_failure_callback": "notify"}, "on_failure_callback must be a callable"),
        ({"retry_exponential_backoff": "yes"}, "retry_exponential_backoff must be a bool"),
        ({"colour": "red"}, "invalid arguments were passed to EmptyOperator: colour"),
    ],
)
def test_bad_task_arguments(arguments: dict[str, Any], problem: str) -> None:
    with DAG("args"), pytest.raises(DagDefinitionError) as caught:
        EmptyOperator(task_id="t", **arguments)
    assert str(caught.value).startswith("DAG 'args', task 't': ")
    assert problem in str(caught.value)
    assert (caught.value.dag_id, caught.value.task_id) == ("args", "t")


def test_bad_argument_from_default_args_names_the_task() -> None:
    with (
        DAG("defaults", default_args={"retries": "three"}),
        pytest.raises(DagDefinitionError, match="DAG 'defaults', task 't': retries must be an int"),
    ):
        EmptyOperator(task_id="t")


@pytest.mark.parametrize("task_id", ["has space", "", "x" * 251, "bad/slash"])
def test_bad_task_ids(task_id: str) -> None:
    with DAG("ids"), pytest.raises(DagDefinitionError, match=r"DAG 'ids'.*task_id"):
        EmptyOperator(task_id=task_id)


def test_positional_operator_arguments_are_refused() -> None:
    with pytest.raises(DagDefinitionError, match="use keyword arguments"):
        EmptyOperator("t")  # type: ignore[call-arg]


def test_operator_specific_arguments() -> None:
    with DAG("ops"):
        with pytest.raises(DagDefinitionError, match="task 'p': python_callable must be callable"):
            PythonOperator(task_id="p", python_callable="not callable")  # type: ignore[arg-type]
        with pytest.raises(DagDefinitionError, match="task 'b': bash_command must be a str"):
            BashOperator(task_id="b", bash_command=["ls"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"schedule": "61 * * * *"}, "invalid cron expression '61 * * * *'"),
        ({"schedule": "* * * *"}, "invalid cron expression '* * * *' (expected five fields)"),
        ({"schedule": "@fortnightly"}, "unknown schedule preset '@fortnightly'"),
        (
            {"schedule": 3600},
            "schedule must be a cron expression, a preset, a timedelta, a timetable, assets or"
            " None",
        ),
        ({"schedule": timedelta(0)}, "schedule interval must be positive"),
        (
            {"schedule": CronDataIntervalTimetable("@daily"), "start_date": None},
            "schedule '@daily' needs a start_date",
        ),
        (
            {"end_date": datetime(2023, 1, 1)},
            "start_date (2024-01-01T00:00:00+00:00) is after end_date (2023-01-01T00:00:00+00:00)",
        ),
        ({"start_date": "2024-01-01"}, "start_date must be a datetime, got str"),
        ({"max_active_runs": 0}, "max_active_runs must be at least 1, got 0"),
        ({"max_active_tasks": "8"}, "max_active_tasks must be an int"),
        ({"catchup": 1}, "catchup must be a bool, got int"),
        ({"dagrun_timeout": 60}, "dagrun_timeout must be a timedelta, got int"),
        ({"tags": "etl"}, "tags must be a list of str"),
        ({"tags": ["x" * 101]}, "is longer than 100 characters"),
        ({"params": {"when": datetime(2024, 1, 1)}}, "param defaults must be JSON values"),
        ({"description": 5}, "description must be a str, got int"),
    ],
)
def test_bad_dag_arguments(arguments: dict[str, Any], problem: str) -> None:
    values: dict[str, Any] = {"start_date": START, **arguments}
    with pytest.raises(DagDefinitionError) as caught:
        DAG("broken", **values)
    assert str(caught.value).startswith("DAG 'broken': ")
    assert problem in str(caught.value)


def test_bad_dag_id() -> None:
    with pytest.raises(DagDefinitionError, match="DAG 'no way': dag_id 'no way' must be made of"):
        DAG("no way")


def test_param_default_must_match_its_schema() -> None:
    with pytest.raises(ParamValidationError, match="default 'x' is not of type 'integer'"):
        Param("x", type="integer")
