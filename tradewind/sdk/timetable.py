"""The data intervals a DAG's schedule makes, as the scheduler makes them, for task code.

A scheduled run's data interval is one period of the schedule and its logical date is the
start; cron expressions are evaluated on the wall clock of the DAG's time zone. The SDK may
not import the scheduler, so the few steps task code needs (LatestOnlyOperator asks for the
intervals next to a run's) are computed here; a test holds them equal to the scheduler's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from tradewind.sdk.schedule import ScheduleKind, ScheduleSpec

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class DataInterval:
    """A run's data interval, aware datetimes in UTC."""

    start: datetime
    end: datetime


def next_data_interval(
    spec: ScheduleSpec,
    timezone: str,
    *,
    after: DataInterval,
    earliest: datetime | None = None,
    latest: datetime | None = None,
) -> DataInterval | None:
    """The interval the schedule makes after ``after``, as Airflow's ``next_dagrun_info``.

    With catch-up, the next interval starts where the last one ended (aligned to the
    schedule); ``earliest`` moves it later, and an interval starting after ``latest`` is none.

    Args:
        spec: the DAG's schedule.
        timezone: the IANA name of the DAG's time zone.
        after: the last interval.
        earliest: the interval may start no sooner (aligned to the next tick).
        latest: the interval must start by then.

    Returns:
        The interval, or None: none for a manual-only schedule, none after the one run of
        "@once", none starting by ``latest``.

    """
    if spec.kind is ScheduleKind.CRON:
        zone = ZoneInfo(timezone or "UTC")
        start = cron_at_or_before(spec.cron, after.end, zone)
        if earliest is not None:
            start = max(start, cron_at_or_after(spec.cron, earliest, zone))
        if latest is not None and start > latest:
            return None
        return DataInterval(start, cron_next(spec.cron, start, zone))
    if spec.kind is ScheduleKind.INTERVAL and spec.interval is not None:
        start = after.end if earliest is None else max(after.end, earliest)
        if latest is not None and start > latest:
            return None
        return DataInterval(start, start + spec.interval)
    return None


def cron_next(expression: str, after: datetime, zone: ZoneInfo) -> datetime:
    """The first tick of ``expression`` strictly after ``after``, in UTC.

    Args:
        expression: a five-field cron expression.
        after: an aware datetime.
        zone: the time zone whose wall clock the expression reads.

    Returns:
        The tick; a wall time a DST change skips maps forward, a repeated one counts once.

    """
    ticks = croniter(expression, after.astimezone(zone).replace(tzinfo=None))
    while True:
        wall: datetime = ticks.get_next(datetime)
        tick = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if tick > after:
            return tick


def cron_at_or_after(expression: str, moment: datetime, zone: ZoneInfo) -> datetime:
    """The first tick at or after ``moment``, in UTC."""
    # A tick moved by a DST change (02:30 on a night without 02:30 is 03:30) is not on the
    # expression's wall time, so whether ``moment`` is a tick is asked of the tick before it.
    if cron_at_or_before(expression, moment, zone) == moment:
        return moment
    return cron_next(expression, moment, zone)


def cron_at_or_before(expression: str, moment: datetime, zone: ZoneInfo) -> datetime:
    """The last tick at or before ``moment``, in UTC."""
    ticks = croniter(expression, (moment + _TICK).astimezone(zone).replace(tzinfo=None))
    while True:
        wall: datetime = ticks.get_prev(datetime)
        tick = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if tick <= moment:
            return tick
