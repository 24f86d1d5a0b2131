"""tradewind.testing.run_dag: a DAG run in-process, with trigger rules, retries and skips."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
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
from tradewind.sdk.loader import load_dags_from_file
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


AIRFLOW_TUTORIAL = '''
"""The Airflow tutorial DAG with its import lines changed, and nothing else but sleep 0."""
import json
import textwrap
from datetime import datetime, timedelta

from tradewind import DAG, BashOperator, dag, task

with DAG(
    "tutorial",
    default_args={
        "depends_on_past": False,
        "email": ["airflow@example.com"],
        "email_on_failure": False,
        "email_on_retry": False,
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
    },
    description="A simple tutorial DAG",
    schedule=timedelta(days=1),
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag_object:
    t1 = BashOperator(task_id="print_date", bash_command="date")
    t2 = BashOperator(task_id="sleep", depends_on_past=False, bash_command="sleep 0", retries=3)
    t1.doc_md = textwrap.dedent("""#### Task Documentation""")
    dag_object.doc_md = __doc__
    templated_command = textwrap.dedent(
        """
    {% for i in range(5) %}
        echo "{{ ds }}"
        echo "{{ macros.ds_add(ds, 7)}}"
    {% endfor %}
    """
    )
    t3 = BashOperator(task_id="templated", depends_on_past=False, bash_command=templated_command)
    t1 >> [t2, t3]


@dag(schedule=None, start_date=datetime(2021, 1, 1), catchup=False, tags=["example"])
def tutorial_taskflow_api():
    @task()
    def extract():
        return json.loads('{"1001": 301.27, "1002": 433.21, "1003": 502.22}')

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        return {"total_order_value": sum(order_data_dict.values())}

    @task()
    def load(total_order_value: float):
        return f"Total order value is: {total_order_value:.2f}"

    order_summary = transform(extract())
    load(order_summary["total_order_value"])


tutorial_taskflow_api()
'''


def test_the_airflow_tutorials_load_and_run(tmp_path: Path) -> None:
    (tmp_path / "tutorial.py").write_text(AIRFLOW_TUTORIAL)
    loaded = load_dags_from_file(tmp_path / "tutorial.py", dags_folder=tmp_path)
    assert loaded.error is None
    classic, taskflow = loaded.dags
    result = run_dag(classic, logical_date=LOGICAL_DATE)
    assert result.state == "success"
    assert result.xcom("templated") == "2024-03-22"
    assert classic.doc_md is not None
    assert "tutorial DAG" in classic.doc_md
    assert run_dag(taskflow).xcom("load") == "Total order value is: 1236.70"
