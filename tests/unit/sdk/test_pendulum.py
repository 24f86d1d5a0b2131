"""pendulum datetimes and durations, as Airflow's docs write DAGs, wherever datetimes go."""

from __future__ import annotations

import pendulum

from tradewind import DAG, BashOperator, task
from tradewind.sdk.serialization import dag_definition
from tradewind.testing import run_dag


def test_a_dag_written_with_pendulum_parses_serialises_and_runs() -> None:
    with DAG(
        dag_id="pendulum_dag",
        schedule="@daily",
        start_date=pendulum.datetime(2021, 1, 1, tz="Europe/Paris"),
        catchup=False,
        default_args={"retry_delay": pendulum.duration(seconds=30)},
    ) as dag:

        @task(execution_timeout=pendulum.duration(minutes=5))
        def tomorrow(**context: object) -> str:
            logical = context["logical_date"]
            assert isinstance(logical, pendulum.DateTime)
            return logical.add(days=1).to_date_string()

        tomorrow() >> BashOperator(
            task_id="templated", bash_command="echo {{ data_interval_end.add(hours=1).hour }}"
        )

    definition = dag_definition(dag, fileloc="", relative_fileloc="")
    assert definition.schedule.timezone == "Europe/Paris"
    assert definition.start_date.ToDatetime().isoformat() == "2020-12-31T23:00:00"
    by_id = {t.task_id: t for t in definition.tasks}
    assert by_id["tomorrow"].execution_timeout.seconds == 300
    assert by_id["tomorrow"].retry_delay.seconds == 30
    result = run_dag(dag, logical_date=pendulum.datetime(2024, 3, 15, 10, tz="UTC"))
    assert result.state == "success"
    assert result.xcom("tomorrow") == "2024-03-16"
    assert result.xcom("templated") == "11"
