"""A daily DAG with catchup: the scheduler creates a run for each midnight since start_date.

``"@daily"`` means Airflow 3's ``CronTriggerTimetable``: each run's logical date is its
midnight (today's included), not the start of the day before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradewind import DAG, BashOperator

with DAG(
    "example_catchup",
    schedule="@daily",
    start_date=datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    - timedelta(days=3),
    catchup=True,
    max_active_runs=2,
    is_paused_upon_creation=True,
    tags=["example"],
):
    BashOperator(task_id="daily_report", bash_command="echo report for {{ ds }}")
