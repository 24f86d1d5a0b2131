"""Branching on the calendar: the weekday and the hour of each run, and the latest run only.

A daily DAG with catchup: each run picks its report by the weekday of its logical date and its
refresh by the hour of it; only the latest scheduled run (or a manual one) sends the
notification, and the archive runs whatever happened to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from tradewind import (
    DAG,
    BranchDateTimeOperator,
    BranchDayOfWeekOperator,
    EmptyOperator,
    Label,
    LatestOnlyOperator,
    WeekDay,
)

with DAG(
    dag_id="example_branch_operators",
    schedule="@daily",
    start_date=datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    - timedelta(days=3),
    catchup=True,
    max_active_runs=3,
    is_paused_upon_creation=True,
    tags=["example"],
):
    # Saturday and Sunday get the weekend report; the other days the weekday one.
    weekend_check = BranchDayOfWeekOperator(
        task_id="weekend_check",
        week_day={WeekDay.SATURDAY, WeekDay.SUNDAY},
        use_task_logical_date=True,
        follow_task_ids_if_true="weekend_report",
        follow_task_ids_if_false="weekday_report",
    )
    weekend_report = EmptyOperator(task_id="weekend_report")
    weekday_report = EmptyOperator(task_id="weekday_report")
    weekend_check >> Label("Saturday or Sunday") >> weekend_report
    weekend_check >> Label("Monday to Friday") >> weekday_report

    # A run whose logical date is between midnight and 06:00 refreshes everything.
    early_hours_check = BranchDateTimeOperator(
        task_id="early_hours_check",
        target_lower=time(0, 0),
        target_upper=time(6, 0),
        use_task_logical_date=True,
        follow_task_ids_if_true="full_refresh",
        follow_task_ids_if_false="incremental_refresh",
    )
    full_refresh = EmptyOperator(task_id="full_refresh")
    incremental_refresh = EmptyOperator(task_id="incremental_refresh")
    early_hours_check >> Label("00:00 to 06:00") >> full_refresh
    early_hours_check >> Label("later in the day") >> incremental_refresh

    # Catching up on past days does not notify anyone; the archive runs in every run.
    latest_only = LatestOnlyOperator(task_id="latest_only")
    notify = EmptyOperator(task_id="notify")
    archive = EmptyOperator(task_id="archive", trigger_rule="all_done")
    latest_only >> Label("latest run only") >> notify >> archive
