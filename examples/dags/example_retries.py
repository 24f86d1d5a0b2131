"""A flaky task that fails on its first try and succeeds when retried."""

from __future__ import annotations

from datetime import datetime, timedelta

from tradewind import DAG, get_current_context, task

with DAG(
    "example_retries",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
):

    @task
    def flaky() -> int:
        try_number = get_current_context()["ti"].try_number
        if try_number < 2:
            raise ConnectionError(f"the upstream API timed out (try {try_number})")
        print(f"succeeded on try {try_number}")
        return try_number

    @task
    def report(tries: int) -> None:
        print(f"flaky needed {tries} tries")

    report(flaky())
