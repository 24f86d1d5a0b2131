"""A DAG's ``schedule`` argument, normalised: a cron expression, an interval, once, or manual."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter

from tradewind.sdk.arguments import ArgumentChecker

if TYPE_CHECKING:
    from tradewind.sdk.assets import BaseAsset

#: Airflow's cron presets and the expressions they stand for.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
ONCE = "@once"
#: The number of fields of a cron expression.
CRON_FIELDS = 5


#: What a DAG's ``schedule`` may be (see :func:`parse_schedule`).
ScheduleArgument = Any


class ScheduleKind(StrEnum):
    """What makes a DAG run by itself."""

    NONE = "none"
    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"


@dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule."""

    kind: ScheduleKind
    #: The five-field cron expression (presets expanded), for CRON.
    cron: str = ""
    #: The interval between logical dates, for INTERVAL.
    interval: timedelta | None = None
    #: As the user wrote it, for display ("@daily", "timedelta(hours=1)"); "" for manual.
    description: str = ""
    #: The asset condition of a DAG scheduled on assets (with a time kind, both apply).
    assets: BaseAsset | None = None
    #: The zone a timetable names for its cron expression; "" for the DAG's.
    timezone: str = ""


def parse_schedule(schedule: object, check: ArgumentChecker) -> ScheduleSpec:
    """Validate a DAG's ``schedule`` argument.

    Args:
        schedule: a cron expression, a preset, "@once", a positive timedelta, None, an asset
            condition (``a & b``, ``a | b``), a list of assets (all of them), or a timetable
            (``CronDataIntervalTimetable``, ``DeltaDataIntervalTimetable``,
            ``AssetOrTimeSchedule``).
        check: the checker of the DAG, for errors.

    Returns:
        The normalised schedule.

    """
    from tradewind.sdk.assets import BaseAsset, normalise_schedule_assets
    from tradewind.sdk.timetables import (
        AssetOrTimeSchedule,
        CronDataIntervalTimetable,
        DeltaDataIntervalTimetable,
        Timetable,
    )

    if isinstance(schedule, BaseAsset | list | tuple | set | frozenset):
        try:
            condition = normalise_schedule_assets(schedule)
        except (TypeError, ValueError) as err:
            raise check.fail(f"schedule: {err}") from err
        return ScheduleSpec(ScheduleKind.NONE, description="Asset", assets=condition)
    if isinstance(schedule, AssetOrTimeSchedule):
        timed = parse_schedule(schedule.timetable, check)
        return replace(
            timed, assets=schedule.asset_condition, description=f"Asset or {timed.description}"
        )
    if isinstance(schedule, CronDataIntervalTimetable):
        cron = parse_schedule(schedule.expression, check)
        zone = schedule.timezone
        if zone is None:
            zone_name = ""
        elif isinstance(zone, str):
            zone_name = zone
        else:
            zone_name = timezone_name(zone, check)
        return replace(cron, description=schedule.summary, timezone=zone_name)
    if isinstance(schedule, DeltaDataIntervalTimetable):
        return parse_schedule(schedule.delta, check)
    if isinstance(schedule, Timetable):
        raise check.fail(
            f"timetable {type(schedule).__name__} is not supported; use a cron expression,"
            " a timedelta, CronDataIntervalTimetable, DeltaDataIntervalTimetable,"
            " AssetOrTimeSchedule or assets"
        )
    if schedule is None:
        return ScheduleSpec(ScheduleKind.NONE)
    if isinstance(schedule, timedelta):
        if schedule <= timedelta(0):
            raise check.fail(f"schedule interval must be positive, got {schedule}")
        return ScheduleSpec(
            ScheduleKind.INTERVAL, interval=schedule, description=describe_interval(schedule)
        )
    if not isinstance(schedule, str):
        raise check.fail(
            "schedule must be a cron expression, a preset, a timedelta or None,"
            f" got {type(schedule).__name__}"
        )
    text = schedule.strip()
    if text == ONCE:
        return ScheduleSpec(ScheduleKind.ONCE, description=schedule)
    if text.startswith("@"):
        if text not in CRON_PRESETS:
            known = ", ".join([ONCE, *CRON_PRESETS])
            raise check.fail(f"unknown schedule preset {schedule!r}; known presets: {known}")
        return ScheduleSpec(ScheduleKind.CRON, cron=CRON_PRESETS[text], description=schedule)
    if len(text.split()) != CRON_FIELDS or not croniter.is_valid(text):
        raise check.fail(f"invalid cron expression {schedule!r} (expected five fields)")
    return ScheduleSpec(ScheduleKind.CRON, cron=" ".join(text.split()), description=schedule)


def describe_interval(interval: timedelta) -> str:
    """Write an interval as its constructor call, e.g. ``timedelta(hours=1, minutes=30)``.

    Args:
        interval: the interval.

    Returns:
        The description.

    """
    hours, rest = divmod(interval.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        (name, value)
        for name, value in (
            ("days", interval.days),
            ("hours", hours),
            ("minutes", minutes),
            ("seconds", seconds),
            ("microseconds", interval.microseconds),
        )
        if value
    ]
    return f"timedelta({', '.join(f'{name}={value}' for name, value in parts)})"


def timezone_name(tz: tzinfo | None, check: ArgumentChecker) -> str:
    """The IANA name of a time zone, as the contract carries it.

    Args:
        tz: a ``zoneinfo.ZoneInfo``, ``datetime.UTC``, a pendulum time zone, a whole-hour
            fixed offset, or None (UTC).
        check: the checker of the DAG, for errors.

    Returns:
        e.g. "Europe/Paris", "UTC", "Etc/GMT-2".

    """
    if tz is None or tz is UTC:
        return "UTC"
    if isinstance(tz, ZoneInfo):
        return tz.key
    name = getattr(tz, "name", None)  # pendulum's time zones
    if isinstance(name, str) and name:
        return name
    offset = tz.utcoffset(None)
    if offset is not None and offset.total_seconds() % 3600 == 0:
        hours = int(offset.total_seconds() // 3600)
        # The Etc zones' signs are inverted by POSIX convention: UTC+2 is Etc/GMT-2.
        return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    raise check.fail(f"time zone {tz!r} has no IANA name; use zoneinfo.ZoneInfo('Area/City')")
