"""Schedules written as Airflow 3 timetables.

``"@daily"`` alone already means a ``CronTriggerTimetable``: a run at each midnight whose
logical date is that midnight. These DAGs show the other forms: a trigger with a data
interval, several cron expressions at once, and a list of moments. They are paused when they
appear; unpause one and ``tradewind dags show`` gives its next run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradewind import (
    DAG,
    BashOperator,
    CronTriggerTimetable,
    EventsTimetable,
    MultipleCronTriggerTimetable,
)

START = datetime(2026, 1, 1, tzinfo=UTC)

with DAG(
    "example_weekday_report",
    # 06:00 in Paris on weekdays; each run covers the day before it.
    schedule=CronTriggerTimetable(
        "0 6 * * 1-5", timezone="Europe/Paris", interval=timedelta(days=1)
    ),
    start_date=START,
    is_paused_upon_creation=True,
    tags=["example", "timetables"],
):
    BashOperator(
        task_id="report",
        bash_command="echo report for {{ data_interval_start }} to {{ data_interval_end }}",
    )

with DAG(
    "example_twice_a_day",
    # Every morning, and on weekday evenings too: one run when both tick at once.
    schedule=MultipleCronTriggerTimetable("0 7 * * *", "30 18 * * 1-5", timezone="UTC"),
    start_date=START,
    is_paused_upon_creation=True,
    tags=["example", "timetables"],
):
    BashOperator(task_id="sync", bash_command="echo sync at {{ logical_date }}")

with DAG(
    "example_release_days",
    # Runs at these moments only; a manual run takes the latest past one's date.
    schedule=EventsTimetable(
        [datetime(2027, 1, 4, 9, tzinfo=UTC), datetime(2027, 4, 5, 9, tzinfo=UTC)],
        restrict_to_events=True,
        description="the quarterly releases",
    ),
    start_date=START,
    is_paused_upon_creation=True,
    tags=["example", "timetables"],
):
    BashOperator(task_id="release", bash_command="echo release of {{ ds }}")
