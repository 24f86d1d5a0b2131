from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.timetables import (
    DataInterval,
    ScheduleSpec,
    cron_next,
    interval_of,
    next_interval,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
DAILY = ScheduleSpec(cron="0 0 * * *")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_first_daily_run_covers_the_first_day_and_is_due_at_its_end() -> None:
    run = next_interval(
        DAILY,
        start_date=START,
        end_date=None,
        catchup=True,
        last_interval_end=None,
        now=utc(2026, 1, 5),
    )
    assert run == DataInterval(utc(2026, 1, 1), utc(2026, 1, 2))
    assert run.logical_date == utc(2026, 1, 1)
    assert run.create_after == utc(2026, 1, 2)


def test_start_date_between_ticks_aligns_to_the_next_tick() -> None:
    run = next_interval(
        DAILY,
        start_date=utc(2026, 1, 1, 15),
        end_date=None,
        catchup=True,
        last_interval_end=None,
        now=utc(2026, 1, 9),
    )
    assert run is not None
    assert run.start == utc(2026, 1, 2)


def test_catchup_walks_every_missed_interval() -> None:
    ends = []
    last = None
    for _ in range(4):
        run = next_interval(
            DAILY,
            start_date=START,
            end_date=None,
            catchup=True,
            last_interval_end=last,
            now=utc(2026, 1, 10),
        )
        assert run is not None
        ends.append(run.end)
        last = run.end
    assert ends == [utc(2026, 1, d) for d in (2, 3, 4, 5)]


def test_without_catchup_only_the_latest_complete_interval_runs() -> None:
    run = next_interval(
        DAILY,
        start_date=START,
        end_date=None,
        catchup=False,
        last_interval_end=None,
        now=utc(2026, 1, 10, 6),
    )
    assert run == DataInterval(utc(2026, 1, 9), utc(2026, 1, 10))
    following = next_interval(
        DAILY,
        start_date=START,
        end_date=None,
        catchup=False,
        last_interval_end=run.end,
        now=utc(2026, 1, 10, 7),
    )
    assert following == DataInterval(utc(2026, 1, 10), utc(2026, 1, 11))


def test_no_run_starts_after_the_end_date() -> None:
    run = next_interval(
        DAILY,
        start_date=START,
        end_date=utc(2026, 1, 2),
        catchup=True,
        last_interval_end=utc(2026, 1, 3),
        now=utc(2026, 2, 1),
    )
    assert run is None


def test_timedelta_schedules_step_from_the_start_date() -> None:
    spec = ScheduleSpec(interval=timedelta(hours=6))
    first = next_interval(
        spec,
        start_date=START,
        end_date=None,
        catchup=True,
        last_interval_end=None,
        now=utc(2026, 1, 2),
    )
    assert first == DataInterval(START, utc(2026, 1, 1, 6))
    latest = next_interval(
        spec,
        start_date=START,
        end_date=None,
        catchup=False,
        last_interval_end=None,
        now=utc(2026, 1, 2, 13),
    )
    assert latest == DataInterval(utc(2026, 1, 2, 6), utc(2026, 1, 2, 12))


def test_once_runs_exactly_once_at_the_start_date() -> None:
    spec = ScheduleSpec(once=True)
    first = next_interval(
        spec,
        start_date=START,
        end_date=None,
        catchup=False,
        last_interval_end=None,
        now=utc(2026, 3, 1),
    )
    assert first == DataInterval(START, START)
    assert (
        next_interval(
            spec,
            start_date=START,
            end_date=None,
            catchup=False,
            last_interval_end=START,
            now=utc(2026, 3, 1),
        )
        is None
    )


def test_manual_only_has_no_scheduled_runs() -> None:
    assert (
        next_interval(
            ScheduleSpec(),
            start_date=START,
            end_date=None,
            catchup=True,
            last_interval_end=None,
            now=utc(2027, 1, 1),
        )
        is None
    )


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
    spec = ScheduleSpec(cron="0 0 * * *", timezone="Europe/Paris")
    day = interval_of(spec, utc(2026, 3, 28, 23))  # midnight of 29 March, CET
    assert day.end - day.start == timedelta(hours=23)


def test_a_tick_a_dst_change_moved_is_at_or_after_itself() -> None:
    """02:30 does not exist in Paris on 2024-03-31: that day's tick is 03:30 (01:30 UTC)."""
    from core.timetables import cron_at_or_after

    moved = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert cron_at_or_after("30 2 * * *", moved, "Europe/Paris") == moved
    assert cron_at_or_after("30 2 * * *", moved - timedelta(minutes=1), "Europe/Paris") == moved
