"""LatestOnlyOperator: Airflow 3's rules for manual, scheduled and backfill runs.

``dag.test()`` makes manual runs; the scheduled and backfill runs here are ``run_dag`` runs
whose task contexts say so (``run_dag`` has no argument for the run's type yet).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import tradewind.testing
from core import timetables as rules
from scheduler.timetables import timetable_of
from tradewind import (
    DAG,
    EmptyOperator,
    LatestOnlyOperator,
    TaskInstanceState,
    TriggerRule,
)
from tradewind.sdk import clock
from tradewind.sdk.operators.latest_only import latest_window
from tradewind.sdk.serialization import dag_definition
from tradewind.sdk.timetables import DataInterval, TimeRestriction, Timetable

SUCCESS, SKIPPED = TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED
DAY = timedelta(days=1)
MIDNIGHT = datetime(2024, 3, 15, tzinfo=UTC)
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def set_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return set_to


RunDag = Callable[..., dict[str, TaskInstanceState]]


@pytest.fixture
def run_as() -> RunDag:
    """Run a DAG with run_dag as a run of ``run_type`` with the data interval given."""

    def run(dag: DAG, run_type: str, start: datetime, end: datetime) -> dict[str, Any]:
        result = tradewind.testing.run_dag(
            dag, logical_date=start, run_type=run_type, data_interval=(start, end)
        )
        assert result.state == "success", result.task_states
        return result.task_states

    return run


def latest_only_with_trigger(schedule: Any = "@daily") -> DAG:
    """Airflow's example: task4 runs whatever happens upstream (all_done)."""
    with DAG(
        dag_id="latest_only_with_trigger",
        schedule=schedule,
        start_date=START,
        catchup=False,
    ) as dag:
        latest_only = LatestOnlyOperator(task_id="latest_only")
        task1 = EmptyOperator(task_id="task1")
        task2 = EmptyOperator(task_id="task2")
        task3 = EmptyOperator(task_id="task3")
        task4 = EmptyOperator(task_id="task4", trigger_rule=TriggerRule.ALL_DONE)
        latest_only >> task1 >> [task3, task4]
        task2 >> [task3, task4]
    return dag


ALL_RAN = dict.fromkeys(["latest_only", "task1", "task2", "task3", "task4"], SUCCESS)
NOT_LATEST = {**ALL_RAN, "task1": SKIPPED, "task3": SKIPPED}


def test_a_manual_run_never_skips(set_now: Callable[[datetime], None]) -> None:
    set_now(MIDNIGHT + 400 * DAY)
    dag = latest_only_with_trigger()
    assert dag.test(logical_date=MIDNIGHT).task_states == ALL_RAN
    assert dag.test().task_states == ALL_RAN


def test_the_latest_scheduled_run_runs_its_downstream_tasks(
    run_as: RunDag, set_now: Callable[[datetime], None]
) -> None:
    set_now(MIDNIGHT + timedelta(hours=5))  # the run of yesterday's interval is due
    assert run_as(latest_only_with_trigger(), "scheduled", MIDNIGHT - DAY, MIDNIGHT) == ALL_RAN


@pytest.mark.parametrize("run_type", ["scheduled", "backfill"])
def test_an_older_run_skips_them_and_trigger_rules_decide_the_rest(
    run_as: RunDag, set_now: Callable[[datetime], None], run_type: str
) -> None:
    set_now(MIDNIGHT + timedelta(hours=5))
    old = MIDNIGHT - 3 * DAY
    assert run_as(latest_only_with_trigger(), run_type, old, old + DAY) == NOT_LATEST


def test_a_run_is_latest_until_the_next_interval_ends(
    run_as: RunDag, set_now: Callable[[datetime], None]
) -> None:
    dag = latest_only_with_trigger()
    start, end = MIDNIGHT - DAY, MIDNIGHT
    for now, expected in [
        (start + timedelta(microseconds=1), ALL_RAN),
        (end + DAY, ALL_RAN),  # the right edge is included
        (end + DAY + timedelta(microseconds=1), NOT_LATEST),
        (start, NOT_LATEST),  # the left edge is not
        (start - DAY, NOT_LATEST),
    ]:
        set_now(now)
        assert run_as(dag, "scheduled", start, end) == expected, now


def test_an_interval_schedule(run_as: RunDag, set_now: Callable[[datetime], None]) -> None:
    dag = latest_only_with_trigger(timedelta(hours=4))
    start = MIDNIGHT
    set_now(start + timedelta(hours=8))
    assert run_as(dag, "scheduled", start, start + timedelta(hours=4)) == ALL_RAN
    set_now(start + timedelta(hours=8, seconds=1))
    assert run_as(dag, "scheduled", start, start + timedelta(hours=4)) == NOT_LATEST


@pytest.mark.parametrize("schedule", ["@once", None])
def test_no_interval_after_the_run_means_it_is_the_latest(
    schedule: Any, run_as: RunDag, set_now: Callable[[datetime], None]
) -> None:
    set_now(MIDNIGHT + 400 * DAY)
    assert run_as(latest_only_with_trigger(schedule), "scheduled", START, START) == ALL_RAN


def test_the_xcom_names_the_tasks_followed(set_now: Callable[[datetime], None]) -> None:
    set_now(MIDNIGHT)
    assert latest_only_with_trigger().test().xcom("latest_only") == ["task1"]


# -- the window, as a pure function -------------------------------------------------------------


def dag_on(schedule: Any, timezone: str = "UTC") -> DAG:
    return DAG(
        "window", schedule=schedule, start_date=datetime(2024, 1, 1, tzinfo=ZoneInfo(timezone))
    )


def timetable(schedule: Any, timezone: str = "UTC") -> Timetable:
    return dag_on(schedule, timezone).timetable


@pytest.mark.parametrize(
    ("schedule", "timezone", "start", "end", "window"),
    [
        ("@daily", "UTC", MIDNIGHT - DAY, MIDNIGHT, (MIDNIGHT - DAY, MIDNIGHT + DAY)),
        (
            "0 6 * * 1-5",  # 06:00 on weekdays: the interval after Friday's ends on Monday
            "UTC",
            datetime(2024, 3, 14, 6, tzinfo=UTC),
            datetime(2024, 3, 15, 6, tzinfo=UTC),
            (datetime(2024, 3, 14, 6, tzinfo=UTC), datetime(2024, 3, 18, 6, tzinfo=UTC)),
        ),
        (
            timedelta(hours=6),
            "UTC",
            MIDNIGHT,
            MIDNIGHT + timedelta(hours=6),
            (MIDNIGHT, MIDNIGHT + timedelta(hours=12)),
        ),
        ("@once", "UTC", START, START, None),
        (None, "UTC", START, START, None),
    ],
)
def test_latest_window(
    schedule: Any,
    timezone: str,
    start: datetime,
    end: datetime,
    window: tuple[datetime, datetime] | None,
) -> None:
    assert latest_window(timetable(schedule, timezone), DataInterval(start, end)) == window


def test_a_daily_window_across_a_dst_change_keeps_the_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2024, 3, 30, tzinfo=paris)  # the clocks go forward on 31 March
    end = datetime(2024, 3, 31, tzinfo=paris)
    window = latest_window(timetable("@daily", "Europe/Paris"), DataInterval(start, end))
    assert window is not None
    left, right = window
    assert left == start
    assert right == datetime(2024, 4, 1, tzinfo=paris)
    assert right - end == timedelta(hours=23)


@pytest.mark.parametrize(
    ("schedule", "timezone"),
    [
        ("@daily", "UTC"),
        ("30 2 * * *", "Europe/Paris"),  # a local time the DST change skips
        ("0 1 * * *", "America/New_York"),
        ("*/45 * * * *", "Europe/Paris"),
        ("0 0 1 * *", "Australia/Sydney"),
        (timedelta(hours=5), "UTC"),
    ],
)
def test_the_next_interval_is_the_schedulers(schedule: Any, timezone: str) -> None:
    """The step LatestOnlyOperator takes agrees with the runs the scheduler creates from the
    DAG's serialised schedule."""
    dag = dag_on(schedule, timezone)
    scheduler_rules = timetable_of(dag_definition(dag, fileloc="f", relative_fileloc="f").schedule)
    start_date = datetime(2024, 3, 1, tzinfo=UTC)
    last = None
    for _ in range(60):
        expected = rules.next_interval(
            scheduler_rules,
            start_date=start_date,
            end_date=None,
            catchup=True,
            last=last,
            now=start_date,
        )
        assert expected is not None
        info = dag.timetable.next_dagrun_info(
            last_automated_data_interval=(
                DataInterval(last.start, last.end) if last is not None else None
            ),
            restriction=TimeRestriction(earliest=start_date, latest=None, catchup=True),
        )
        assert info is not None
        assert info.data_interval == DataInterval(expected.start, expected.end)
        assert info.run_after == expected.create_after
        last = expected
