"""The timetables' rules, case by case as Airflow 3.3 decides them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from core.timetables import (
    Continuous,
    CronIntervals,
    CronTriggers,
    DataInterval,
    DeltaIntervals,
    DeltaTriggers,
    Events,
    Manual,
    MultipleCronTriggers,
    Once,
    Timetable,
    cron_at_or_after,
    cron_next,
    next_interval,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
DAILY = CronIntervals("0 0 * * *")
DAILY_TRIGGER = CronTriggers("0 0 * * *")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def step(
    timetable: Timetable,
    *,
    now: datetime,
    last: DataInterval | None = None,
    catchup: bool = True,
    start: datetime | None = START,
    end: datetime | None = None,
) -> DataInterval | None:
    return next_interval(
        timetable, start_date=start, end_date=end, catchup=catchup, last=last, now=now
    )


def walk(
    timetable: Timetable, count: int, *, now: datetime, catchup: bool = True
) -> list[DataInterval]:
    runs, last = [], None
    for _ in range(count):
        last = step(timetable, now=now, last=last, catchup=catchup)
        assert last is not None
        runs.append(last)
    return runs


# -- data interval timetables --------------------------------------------------------------


def test_first_daily_run_covers_the_first_day_and_is_due_at_its_end() -> None:
    run = step(DAILY, now=utc(2026, 1, 5))
    assert run == DataInterval(utc(2026, 1, 1), utc(2026, 1, 2))
    assert run.logical_date == utc(2026, 1, 1)
    assert run.create_after == utc(2026, 1, 2)


def test_start_date_between_ticks_aligns_to_the_next_tick() -> None:
    run = step(DAILY, now=utc(2026, 1, 9), start=utc(2026, 1, 1, 15))
    assert run is not None
    assert run.start == utc(2026, 1, 2)


def test_catchup_walks_every_missed_interval() -> None:
    runs = walk(DAILY, 4, now=utc(2026, 1, 10))
    assert [r.end for r in runs] == [utc(2026, 1, d) for d in (2, 3, 4, 5)]


def test_without_catchup_only_the_latest_complete_interval_runs() -> None:
    run = step(DAILY, now=utc(2026, 1, 10, 6), catchup=False)
    assert run == DataInterval(utc(2026, 1, 9), utc(2026, 1, 10))
    following = step(DAILY, now=utc(2026, 1, 10, 7), last=run, catchup=False)
    assert following == DataInterval(utc(2026, 1, 10), utc(2026, 1, 11))


def test_without_catchup_on_a_tick_the_interval_ending_now_runs() -> None:
    assert step(DAILY, now=utc(2026, 1, 10), catchup=False) == DataInterval(
        utc(2026, 1, 9), utc(2026, 1, 10)
    )


def test_no_run_starts_after_the_end_date() -> None:
    last = DataInterval(utc(2026, 1, 2), utc(2026, 1, 3))
    assert step(DAILY, now=utc(2026, 2, 1), last=last, end=utc(2026, 1, 2)) is None


def test_timedelta_intervals_step_from_the_start_date() -> None:
    every_six_hours = DeltaIntervals(timedelta(hours=6))
    assert step(every_six_hours, now=utc(2026, 1, 2)) == DataInterval(START, utc(2026, 1, 1, 6))
    latest = step(every_six_hours, now=utc(2026, 1, 2, 13), catchup=False)
    assert latest == DataInterval(utc(2026, 1, 2, 6), utc(2026, 1, 2, 12))


def test_a_manual_run_of_a_data_interval_timetable_covers_the_last_complete_interval() -> None:
    assert DAILY.manual_interval(utc(2026, 1, 5, 13)) == DataInterval(
        utc(2026, 1, 4), utc(2026, 1, 5)
    )
    hourly = DeltaIntervals(timedelta(hours=1))
    assert hourly.manual_interval(utc(2026, 1, 5, 13)) == DataInterval(
        utc(2026, 1, 5, 12), utc(2026, 1, 5, 13)
    )


# -- trigger timetables ---------------------------------------------------------------------


def test_a_cron_trigger_runs_at_each_tick_with_the_tick_as_logical_date() -> None:
    runs = walk(DAILY_TRIGGER, 3, now=utc(2026, 1, 10))
    assert [r.logical_date for r in runs] == [utc(2026, 1, d) for d in (1, 2, 3)]
    assert all(r.start == r.end == r.create_after for r in runs)


def test_a_cron_trigger_without_catchup_runs_the_latest_past_tick() -> None:
    run = step(DAILY_TRIGGER, now=utc(2026, 1, 10, 6), catchup=False)
    assert run == DataInterval(utc(2026, 1, 10), utc(2026, 1, 10))
    following = step(DAILY_TRIGGER, now=utc(2026, 1, 10, 7), last=run, catchup=False)
    assert following == DataInterval(utc(2026, 1, 11), utc(2026, 1, 11))


def test_a_cron_trigger_with_an_interval_covers_the_interval_before_the_tick() -> None:
    timetable = CronTriggers("0 0 * * *", interval=timedelta(hours=4))
    run = step(timetable, now=utc(2026, 1, 10))
    assert run == DataInterval(utc(2025, 12, 31, 20), utc(2026, 1, 1))
    assert run.create_after == utc(2026, 1, 1)
    assert timetable.manual_interval(utc(2026, 1, 5, 13)) == DataInterval(
        utc(2026, 1, 5, 9), utc(2026, 1, 5, 13)
    )


@pytest.mark.parametrize(
    ("run_immediately", "now", "first"),
    [
        (True, utc(2026, 1, 10, 12), utc(2026, 1, 10)),
        # False as None, as Airflow's scheduler has it: within five minutes or a tenth.
        (False, utc(2026, 1, 10, 0, 1), utc(2026, 1, 10)),
        (False, utc(2026, 1, 10, 3), utc(2026, 1, 11)),
        (timedelta(hours=2), utc(2026, 1, 10, 1), utc(2026, 1, 10)),
        (timedelta(hours=2), utc(2026, 1, 10, 3), utc(2026, 1, 11)),
        # None: within a tenth of the day (2.4 h) of the past tick.
        (None, utc(2026, 1, 10, 2), utc(2026, 1, 10)),
        (None, utc(2026, 1, 10, 3), utc(2026, 1, 11)),
    ],
)
def test_run_immediately_decides_the_first_run_of_a_dag_without_a_start_date(
    run_immediately: bool | timedelta | None, now: datetime, first: datetime
) -> None:
    timetable = CronTriggers("0 0 * * *", run_immediately=run_immediately)
    run = step(timetable, now=now, start=None)
    assert run is not None
    assert run.logical_date == first


def test_a_delta_trigger_runs_every_delta_from_the_start_date() -> None:
    timetable = DeltaTriggers(timedelta(hours=8))
    runs = walk(timetable, 3, now=utc(2026, 1, 10))
    assert [r.logical_date for r in runs] == [START, utc(2026, 1, 1, 8), utc(2026, 1, 1, 16)]


def test_a_delta_trigger_without_catchup_runs_now_then_every_delta() -> None:
    timetable = DeltaTriggers(timedelta(hours=8))
    now = utc(2026, 1, 10, 5, 17)
    run = step(timetable, now=now, catchup=False)
    assert run == DataInterval(now, now)
    following = step(timetable, now=now, last=run, catchup=False)
    assert following == DataInterval(now + timedelta(hours=8), now + timedelta(hours=8))


def test_multiple_cron_triggers_run_at_the_ticks_of_each_once() -> None:
    # 06:00 every day and 06:00 and 18:00 on weekdays: one run when both tick.
    timetable = MultipleCronTriggers((CronTriggers("0 6 * * *"), CronTriggers("0 6,18 * * 1-5")))
    runs = walk(timetable, 4, now=utc(2026, 2, 1))
    # 2026-01-01 is a Thursday.
    assert [r.logical_date for r in runs] == [
        utc(2026, 1, 1, 6),
        utc(2026, 1, 1, 18),
        utc(2026, 1, 2, 6),
        utc(2026, 1, 2, 18),
    ]
    assert step(timetable, now=utc(2026, 2, 1), last=runs[-1]) == DataInterval(
        utc(2026, 1, 3, 6), utc(2026, 1, 3, 6)
    )


def test_multiple_cron_triggers_without_catchup_take_the_latest_past_tick() -> None:
    timetable = MultipleCronTriggers((CronTriggers("0 6 * * *"), CronTriggers("0 18 * * *")))
    run = step(timetable, now=utc(2026, 1, 10, 20), catchup=False)
    assert run is not None
    assert run.logical_date == utc(2026, 1, 10, 18)


# -- events, once, continuous, manual -------------------------------------------------------

EVENTS = (utc(2026, 1, 3), utc(2026, 1, 5, 12), utc(2026, 2, 1))


def test_events_run_at_each_event_in_turn() -> None:
    timetable = Events(EVENTS)
    runs = walk(timetable, 3, now=utc(2026, 3, 1))
    assert [r.logical_date for r in runs] == list(EVENTS)
    assert step(timetable, now=utc(2026, 3, 1), last=runs[-1]) is None


def test_events_without_catchup_skip_past_events() -> None:
    run = step(Events(EVENTS), now=utc(2026, 1, 10), catchup=False)
    assert run == DataInterval(utc(2026, 2, 1), utc(2026, 2, 1))


def test_events_stop_at_the_end_date() -> None:
    last = DataInterval(EVENTS[1], EVENTS[1])
    assert step(Events(EVENTS), now=utc(2026, 3, 1), last=last, end=utc(2026, 1, 20)) is None


def test_a_manual_run_of_events_restricted_to_them_takes_the_latest_past_event() -> None:
    at = utc(2026, 1, 10)
    assert Events(EVENTS).manual_interval(at) == DataInterval(at, at)
    restricted = Events(EVENTS, restrict_to_events=True)
    assert restricted.manual_interval(at) == DataInterval(EVENTS[1], EVENTS[1])
    assert restricted.manual_interval(utc(2025, 1, 1)) == DataInterval(EVENTS[0], EVENTS[0])


def test_once_runs_exactly_once_at_the_start_date() -> None:
    first = step(Once(), now=utc(2026, 3, 1), catchup=False)
    assert first == DataInterval(START, START)
    assert step(Once(), now=utc(2026, 3, 1), last=first) is None


def test_continuous_covers_the_time_since_the_last_run_one_at_a_time() -> None:
    timetable = Continuous()
    assert timetable.active_runs_limit == 1
    first = step(timetable, now=utc(2026, 1, 10))
    assert first == DataInterval(START, utc(2026, 1, 10))
    second = step(timetable, now=utc(2026, 1, 10, 0, 5), last=first)
    assert second == DataInterval(utc(2026, 1, 10), utc(2026, 1, 10, 0, 5))


def test_manual_only_has_no_scheduled_runs() -> None:
    assert step(Manual(), now=utc(2027, 1, 1)) is None


# -- cron ticks across DST -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Spring forward in Paris (2026-03-29): 02:00 does not exist; the run moves to 03:00.
        (utc(2026, 3, 28, 12), utc(2026, 3, 29, 1)),
        # The day after, 02:00 CEST again.
        (utc(2026, 3, 29, 12), utc(2026, 3, 30, 0)),
    ],
)
def test_daily_cron_keeps_local_time_across_spring_forward(
    after: datetime, expected: datetime
) -> None:
    assert cron_next("0 2 * * *", after, "Europe/Paris") == expected


def test_a_repeated_local_time_runs_once_at_fall_back() -> None:
    ticks = []
    moment = utc(2026, 10, 24, 12)
    for _ in range(3):
        moment = cron_next("30 2 * * *", moment, "Europe/Paris")
        ticks.append(moment)
    # 2026-10-25 02:30 happens twice in Paris; it runs once (the first, CEST).
    assert ticks == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_daily_interval_is_23_hours_on_the_spring_forward_day() -> None:
    paris = CronIntervals("0 0 * * *", "Europe/Paris")
    last = DataInterval(utc(2026, 3, 27, 23), utc(2026, 3, 28, 23))
    day = step(paris, now=utc(2026, 4, 1), last=last)
    assert day is not None
    assert day.start == utc(2026, 3, 28, 23)  # midnight of 29 March, CET
    assert day.end - day.start == timedelta(hours=23)


def test_a_cron_trigger_stays_on_local_time_across_dst() -> None:
    paris = CronTriggers("0 9 * * *", "Europe/Paris")
    last = DataInterval(utc(2026, 3, 28, 8), utc(2026, 3, 28, 8))  # 09:00 CET
    run = step(paris, now=utc(2026, 4, 1), last=last)
    assert run is not None
    assert run.logical_date == utc(2026, 3, 29, 7)  # 09:00 CEST


def test_a_tick_a_dst_change_moved_is_at_or_after_itself() -> None:
    """02:30 does not exist in Paris on 2024-03-31: that day's tick is 03:30 (01:30 UTC)."""
    moved = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert cron_at_or_after("30 2 * * *", moved, "Europe/Paris") == moved
    assert cron_at_or_after("30 2 * * *", moved - timedelta(minutes=1), "Europe/Paris") == moved


def test_an_expression_of_every_hour_steps_in_absolute_time_across_fall_back() -> None:
    """As Airflow: */5 in Berlin on 2026-10-25 ticks every five minutes through the repeated
    hour (no twelve ticks dropped), and hourly ticks every hour."""
    moment = utc(2026, 10, 24, 23, 50)
    ticks = []
    for _ in range(20):
        moment = cron_next("*/5 * * * *", moment, "Europe/Berlin")
        ticks.append(moment)
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(ticks))
    hourly = [cron_next("0 * * * *", utc(2026, 10, 25, h), "Europe/Berlin") for h in range(3)]
    assert hourly == [utc(2026, 10, 25, h + 1) for h in range(3)]
