"""When scheduled runs are due: data intervals from cron expressions, intervals and @once.

Pure functions of the schedule, the DAG's dates and the time passed in. As in Airflow, a run's
logical date is the start of its data interval, and the run is created once the interval has
ended. Cron expressions are evaluated on the wall clock of the schedule's time zone: across a
DST change a daily run stays at the same local time, a skipped local time moves to the next
valid one, and a repeated local time runs once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class ScheduleSpec:
    """A DAG's schedule: exactly one of cron, interval and once (none of them: manual only)."""

    cron: str = ""
    interval: timedelta | None = None
    once: bool = False
    timezone: str = "UTC"


@dataclass(frozen=True)
class DataInterval:
    """One scheduled run: its logical date, data interval, and when it may be created."""

    start: datetime
    end: datetime

    @property
    def logical_date(self) -> datetime:
        """The run's logical date: the start of its interval."""
        return self.start

    @property
    def create_after(self) -> datetime:
        """When the run may be created: the end of its interval."""
        return self.end


#: More than any DST change moves a wall clock.
_DST_REACH = timedelta(hours=3)


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def _to_wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _from_wall(wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a repeated local time means its first occurrence; a skipped one maps forward.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def cron_next(expression: str, after: datetime, timezone: str = "UTC") -> datetime:
    """The first cron tick strictly after ``after`` (aware UTC in, aware UTC out)."""
    zone = _zone(timezone)
    # A tick a DST change moved forward (02:30 on a night without 02:30 is 03:30) lies before
    # ``after``'s wall time yet may be after it: past a recent offset change, start earlier.
    earlier = after - _DST_REACH
    shifted = earlier.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset()
    ticks = croniter(expression, _to_wall(earlier if shifted else after, zone))
    while True:
        tick = _from_wall(ticks.get_next(datetime), zone)
        if tick > after:
            return tick


def cron_at_or_after(expression: str, moment: datetime, timezone: str = "UTC") -> datetime:
    """The first cron tick at or after ``moment``."""
    # A tick moved by a DST change (02:30 on a night without 02:30 is 03:30) is not on the
    # expression's wall time, so whether ``moment`` is a tick is asked of the tick before it.
    if cron_at_or_before(expression, moment, timezone) == moment:
        return moment
    return cron_next(expression, moment, timezone)


def cron_at_or_before(expression: str, moment: datetime, timezone: str = "UTC") -> datetime:
    """The last cron tick at or before ``moment``."""
    zone = _zone(timezone)
    ticks = croniter(expression, _to_wall(moment + timedelta(microseconds=1), zone))
    while True:
        tick = _from_wall(ticks.get_prev(datetime), zone)
        if tick <= moment:
            return tick


def _interval_starting(spec: ScheduleSpec, start: datetime) -> DataInterval:
    if spec.cron:
        return DataInterval(start, cron_next(spec.cron, start, spec.timezone))
    assert spec.interval is not None
    return DataInterval(start, start + spec.interval)


def _latest_complete(
    spec: ScheduleSpec, start_date: datetime, now: datetime
) -> DataInterval | None:
    """The newest interval that has ended by ``now``."""
    if spec.cron:
        end = cron_at_or_before(spec.cron, now, spec.timezone)
        first_start = cron_at_or_after(spec.cron, start_date, spec.timezone)
        candidate = cron_at_or_before(spec.cron, end - timedelta(microseconds=1), spec.timezone)
        if candidate < first_start:
            return None
        return DataInterval(candidate, end)
    assert spec.interval is not None
    if now < start_date + spec.interval:
        return None
    count = (now - start_date) // spec.interval
    start = start_date + (count - 1) * spec.interval
    return DataInterval(start, start + spec.interval)


def next_interval(
    spec: ScheduleSpec,
    *,
    start_date: datetime,
    end_date: datetime | None,
    catchup: bool,
    last_interval_end: datetime | None,
    now: datetime,
) -> DataInterval | None:
    """The next run to create after the last scheduled one, or None when none is left.

    Args:
        spec: the DAG's schedule.
        start_date: the DAG's start date (aware).
        end_date: the DAG's end date, or None.
        catchup: True creates every missed interval in turn; False skips to the latest.
        last_interval_end: the end of the last scheduled run's interval, or None.
        now: the current time (the state service's clock).

    """
    if spec.once:
        if last_interval_end is not None:
            return None
        return DataInterval(start_date, start_date)
    if not spec.cron and spec.interval is None:
        return None
    first = cron_at_or_after(spec.cron, start_date, spec.timezone) if spec.cron else start_date
    earliest = max(first, last_interval_end) if last_interval_end is not None else first
    candidate = _interval_starting(spec, earliest)
    if not catchup:
        latest = _latest_complete(spec, start_date, now)
        if latest is not None and latest.start > candidate.start:
            candidate = latest
    if end_date is not None and candidate.start > end_date:
        return None
    return candidate


def interval_of(spec: ScheduleSpec, logical_date: datetime) -> DataInterval:
    """The data interval of a scheduled run with this logical date."""
    if spec.once:
        return DataInterval(logical_date, logical_date)
    return _interval_starting(spec, logical_date)


def next_data_interval(
    spec: ScheduleSpec,
    *,
    after: DataInterval,
    earliest: datetime | None = None,
    latest: datetime | None = None,
) -> DataInterval | None:
    """The interval the schedule makes after ``after``, as Airflow's ``next_dagrun_info``.

    The next interval starts where ``after`` ended (aligned to the schedule); ``earliest``
    moves it later and an interval starting after ``latest`` is none. None too for a manual
    schedule and for "@once".
    """
    if spec.cron:
        start = cron_at_or_before(spec.cron, after.end, spec.timezone)
        if earliest is not None:
            start = max(start, cron_at_or_after(spec.cron, earliest, spec.timezone))
        if latest is not None and start > latest:
            return None
        return DataInterval(start, cron_next(spec.cron, start, spec.timezone))
    if spec.interval is not None and not spec.once:
        start = after.end if earliest is None else max(after.end, earliest)
        if latest is not None and start > latest:
            return None
        return DataInterval(start, start + spec.interval)
    return None
