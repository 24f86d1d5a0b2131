"""A templated Bash task: Jinja fields are rendered in the task process."""

from __future__ import annotations

from datetime import datetime

from tradewind import DAG, BashOperator

with DAG(
    "example_bash",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example"],
    params={"greeting": "hello"},
):
    greet = BashOperator(
        task_id="greet",
        bash_command='echo "{{ params.greeting }} from run {{ run_id }} for {{ ds }}"',
    )
    list_env = BashOperator(
        task_id="show_env",
        bash_command="echo region=$REGION",
        env={"REGION": "eu-west-1"},
    )
    greet >> list_env
