"""tradewind.testing.run_dag: a DAG run in-process, with trigger rules, retries and skips."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tradewind import (
    DAG,
    BashOperator,
    EmptyOperator,
    Param,
    ParamValidationError,
    TaskInstanceState,
    Variable,
    dag,
    task,
)
from tradewind.testing import run_dag

from .conftest import LOGICAL_DATE, START

SUCCESS, SKIPPED, FAILED = (
    TaskInstanceState.SUCCESS,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.FAILED,
)


@dag(schedule="@daily", start_date=START, params={"threshold": Param(10, type="integer")})
def etl() -> None:
    @task
    def extract() -> list[int]:
        return [3, 4, 5]

    @task(multiple_outputs=True)
    def transform(rows: list[int]) -> dict[str, Any]:
        return {"total": sum(rows), "count": len(rows)}

    @task.branch
    def choose(total: int, params: Any = None) -> str:
        return "load_big" if total > params["threshold"] else "load_small"

    @task
    def load_big(total: int) -> str:
        return f"big {total} {Variable.get('target')}"

    @task
    def load_small(total: int) -> str:
        return f"small {total}"

    report = BashOperator(
        task_id="report",
        bash_command="echo {{ ti.xcom_pull(task_ids='transform', key='count') }} {{ ds }}",
        trigger_rule="none_failed_min_one_success",
    )
    summary = transform(extract())
    branches = [load_big(summary["total"]), load_small(summary["total"])]
    choose(summary["total"]) >> branches >> report


def test_etl_with_xcom_and_a_branch() -> None:
    result = run_dag(etl(), logical_date=LOGICAL_DATE, variables={"target": "warehouse"})
    assert result.state == "success"
    assert result.task_states == {
        "extract": SUCCESS,
        "transform": SUCCESS,
        "choose": SUCCESS,
        "load_big": SUCCESS,
        "load_small": SKIPPED,
        "report": SUCCESS,
    }
    assert result.xcom("transform", "total") == 12
    assert result.xcom("choose") == "load_big"
    assert result.xcom("load_big") == "big 12 warehouse"
    assert result.xcom("report") == "3 2024-03-15"
    assert result.xcom("load_small") is None


def test_conf_overrides_params_and_takes_the_other_branch() -> None:
    result = run_dag(etl(), conf={"threshold": 100}, variables={"target": "x"})
    assert result.task_states["load_big"] is SKIPPED
    assert result.xcom("load_small") == "small 12"
    with pytest.raises(ParamValidationError):
        run_dag(etl(), conf={"threshold": "high"})


def test_failures_propagate_and_retries_run_at_once() -> None:
    attempts: list[int] = []

    with DAG("fragile") as built:

        @task(retries=2)
        def flaky(ti: Any = None) -> str:
            attempts.append(ti.try_number)
            if ti.try_number < 3:
                raise RuntimeError("not yet")
            return "ok"

        @task
        def broken() -> None:
            raise ValueError("always")

        after_broken = EmptyOperator(task_id="after_broken")
        cleanup = EmptyOperator(task_id="cleanup", trigger_rule="all_done")
        on_failure = EmptyOperator(task_id="on_failure", trigger_rule="one_failed")
        broken() >> after_broken >> cleanup
        flaky() >> cleanup
        after_broken >> on_failure

    result = run_dag(built)
    assert attempts == [1, 2, 3]
    assert [r.outcome for r in result.tries["flaky"]] == ["failed", "failed", "success"]
    assert result.task_states["broken"] is FAILED
    assert result.task_states["after_broken"] is TaskInstanceState.UPSTREAM_FAILED
    assert result.task_states["cleanup"] is SUCCESS
    assert result.task_states["on_failure"] is SUCCESS
    assert result.failed_task_ids == ["broken"]
    assert result.state == "success"  # the leaves succeeded, as Airflow decides


def test_leaf_failure_fails_the_run_and_calls_dag_callbacks() -> None:
    reasons: list[str] = []
    with DAG("fails", on_failure_callback=lambda c: reasons.append(c["reason"])) as built:
        BashOperator(task_id="b", bash_command="exit 1")
    result = run_dag(built, run_id="manual_1", logical_date=datetime(2024, 1, 1))
    assert (result.state, result.run_id) == ("failed", "manual_1")
    assert reasons == ["task_failure"]


def test_short_circuit_skips_everything_downstream() -> None:
    with DAG("sc") as built:

        @task.short_circuit
        def is_weekday() -> bool:
            return False

        last = EmptyOperator(task_id="last", trigger_rule="all_done")
        is_weekday() >> EmptyOperator(task_id="next") >> last
    result = run_dag(built)
    assert result.task_states == {"is_weekday": SUCCESS, "next": SKIPPED, "last": SKIPPED}


def test_dag_test_is_run_dag() -> None:
    with DAG("tiny") as built:
        EmptyOperator(task_id="only")
    assert built.test().task_states == {"only": SUCCESS}
