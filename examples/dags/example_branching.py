"""Branching: one path runs, the other is skipped, and the join still runs."""

from __future__ import annotations

from datetime import datetime

from tradewind import DAG, EmptyOperator, task

with DAG(
    "example_branching",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example"],
    params={"weekend": False},
):

    @task.branch
    def choose(params: dict | None = None) -> str:
        return "weekend_report" if (params or {}).get("weekend") else "weekday_report"

    weekday = EmptyOperator(task_id="weekday_report")
    weekend = EmptyOperator(task_id="weekend_report")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")

    choose() >> [weekday, weekend] >> join
