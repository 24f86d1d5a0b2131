from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.runs import run_id_for
from core.states import DagRunType
from core.timetables import Continuous, CronIntervals, CronTriggers, DataInterval
from scheduler.planning import DagSchedule, plan_schedule

START = datetime(2026, 1, 1, tzinfo=UTC)


def dag(**fields: object) -> DagSchedule:
    values: dict[str, object] = {
        "dag_id": "d",
        "content_hash": "h",
        "timetable": CronIntervals("0 0 * * *"),
        "start_date": START,
        "end_date": None,
        "catchup": True,
        "max_active_runs": 16,
        "active_runs": 0,
        "next_run": None,
        "latest_scheduled": None,
    }
    values.update(fields)
    return DagSchedule(**values)  # type: ignore[arg-type]


def test_first_look_computes_the_pointer_without_creating_a_run() -> None:
    advance, wake = plan_schedule(dag(), START + timedelta(days=3))
    assert advance is not None
    assert advance.run is None
    assert advance.next_run == DataInterval(START, START + timedelta(days=1))
    assert wake is None


def test_pointer_resumes_after_the_latest_scheduled_run() -> None:
    advance, _ = plan_schedule(
        dag(latest_scheduled=DataInterval(START + timedelta(days=1), START + timedelta(days=2))),
        START + timedelta(days=5),
    )
    assert advance is not None
    assert advance.next_run is not None
    assert advance.next_run.start == START + timedelta(days=2)


def test_a_due_interval_creates_its_run_and_moves_the_pointer() -> None:
    first = DataInterval(START, START + timedelta(days=1))
    advance, _ = plan_schedule(dag(next_run=first), START + timedelta(days=1, hours=1))
    assert advance is not None
    assert advance.run == first
    assert advance.expected_next_logical_date == START
    assert advance.next_run == DataInterval(START + timedelta(days=1), START + timedelta(days=2))


def test_an_interval_not_yet_ended_sets_a_timer() -> None:
    first = DataInterval(START, START + timedelta(days=1))
    advance, wake = plan_schedule(dag(next_run=first), START + timedelta(hours=5))
    assert advance is None
    assert wake == START + timedelta(days=1)


def test_max_active_runs_holds_back_new_runs() -> None:
    first = DataInterval(START, START + timedelta(days=1))
    advance, wake = plan_schedule(
        dag(next_run=first, active_runs=1, max_active_runs=1), START + timedelta(days=2)
    )
    assert (advance, wake) == (None, None)


def test_run_ids_follow_airflow() -> None:
    assert run_id_for(DagRunType.SCHEDULED, START) == "scheduled__2026-01-01T00:00:00+00:00"


def test_a_cron_trigger_creates_its_run_at_the_tick_with_the_tick_as_logical_date() -> None:
    tick = DataInterval(START, START)
    advance, _ = plan_schedule(
        dag(timetable=CronTriggers("0 0 * * *"), next_run=tick), START + timedelta(seconds=1)
    )
    assert advance is not None
    assert advance.run == tick
    assert advance.next_run == DataInterval(START + timedelta(days=1), START + timedelta(days=1))


def test_continuous_runs_one_at_a_time_whatever_max_active_runs() -> None:
    pointer = DataInterval(START, START)
    held, _ = plan_schedule(
        dag(timetable=Continuous(), next_run=pointer, active_runs=1), START + timedelta(hours=1)
    )
    assert held is None
    now = START + timedelta(hours=1)
    last = DataInterval(START - timedelta(hours=1), START)
    advance, _ = plan_schedule(
        dag(timetable=Continuous(), next_run=pointer, latest_scheduled=last), now
    )
    assert advance is not None
    # The run covers the time since the last one up to its creation, not to the pointer.
    assert advance.run == DataInterval(START, now)
