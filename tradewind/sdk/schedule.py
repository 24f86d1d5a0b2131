"""A DAG's ``schedule`` argument, normalised: a timetable, an asset condition, or both."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tradewind.sdk.arguments import ArgumentChecker
from tradewind.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from tradewind.sdk.assets import BaseAsset
    from tradewind.sdk.timetables import Timetable

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
CONTINUOUS = "@continuous"
#: The number of fields of a cron expression.
CRON_FIELDS = 5


#: What a DAG's ``schedule`` may be (see :func:`parse_schedule`).
ScheduleArgument = Any


@dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule: a timetable, an asset condition, or both."""

    timetable: Timetable
    #: As the user wrote it, for display ("@daily", "timedelta(hours=1)"); "" for manual.
    description: str = ""
    #: The asset condition of a DAG scheduled on assets (with a timetable, both apply).
    assets: BaseAsset | None = None

    @property
    def timed(self) -> bool:
        """Whether it makes runs by time (not only on assets or by hand)."""
        return self.timetable.can_be_scheduled


def parse_schedule(schedule: object, check: ArgumentChecker) -> ScheduleSpec:
    """Validate a DAG's ``schedule`` argument.

    Args:
        schedule: a cron expression, a preset, "@once", "@continuous", a positive timedelta,
            None, an asset condition (``a & b``, ``a | b``), a list of assets (all of them),
            or a timetable (a built-in one, ``AssetOrTimeSchedule``, or a user's).
        check: the checker of the DAG, for errors.

    Returns:
        The normalised schedule.

    """
    from tradewind.sdk import timetables as tt
    from tradewind.sdk.assets import BaseAsset, normalise_schedule_assets

    if isinstance(schedule, BaseAsset | list | tuple | set | frozenset):
        try:
            condition = normalise_schedule_assets(schedule)
        except (TypeError, ValueError) as err:
            raise check.fail(f"schedule: {err}") from err
        return ScheduleSpec(tt.NullTimetable(), description="Asset", assets=condition)
    if isinstance(schedule, tt.PartitionedAssetTimetable):
        return ScheduleSpec(
            schedule, description=schedule.description, assets=schedule.asset_condition
        )
    if isinstance(schedule, tt.AssetOrTimeSchedule):
        timed = parse_schedule(schedule.timetable, check)
        return replace(
            timed, assets=schedule.asset_condition, description=f"Asset or {timed.description}"
        )
    if isinstance(schedule, tt.Timetable):
        try:
            schedule.validate()
        except (TypeError, ValueError) as err:
            raise check.fail(f"schedule: {type(schedule).__name__}: {err}") from err
        return ScheduleSpec(schedule, description=schedule.summary)
    if schedule is None:
        return ScheduleSpec(tt.NullTimetable())
    try:
        if isinstance(schedule, timedelta):
            delta = tt.delta_timetable(schedule)
            return ScheduleSpec(delta, description=describe_interval(schedule))
        if not isinstance(schedule, str):
            raise check.fail(
                "schedule must be a cron expression, a preset, a timedelta, a timetable, assets"
                f" or None, got {type(schedule).__name__}"
            )
        text = schedule.strip()
        if text == ONCE:
            return ScheduleSpec(tt.OnceTimetable(), description=schedule)
        if text == CONTINUOUS:
            return ScheduleSpec(tt.ContinuousTimetable(), description=schedule)
        if text.startswith("@") and text not in CRON_PRESETS:
            known = ", ".join([ONCE, CONTINUOUS, *CRON_PRESETS])
            raise check.fail(f"unknown schedule preset {schedule!r}; known presets: {known}")
        return ScheduleSpec(tt.cron_timetable(text, ""), description=schedule)
    except DagDefinitionError:
        raise
    except (TypeError, ValueError) as err:
        raise check.fail(f"schedule: {err}") from err


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


def _loadable(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # "+02:00", a name the zone database lacks
        return False
    return True


def zone_name(tz: tzinfo | None) -> str:
    """The IANA name of a time zone, as the contract carries it.

    Args:
        tz: a ``zoneinfo.ZoneInfo``, ``datetime.UTC``, a pendulum time zone, a whole-hour
            fixed offset, or None (UTC).

    Returns:
        e.g. "Europe/Paris", "UTC", "Etc/GMT-2".

    Raises:
        ValueError: a zone with no IANA name.

    """
    if tz is None or tz is UTC:
        return "UTC"
    if isinstance(tz, ZoneInfo):
        return tz.key
    name = getattr(tz, "name", None)  # pendulum's time zones
    if isinstance(name, str) and name and _loadable(name):
        return name
    offset = tz.utcoffset(None)
    if offset is not None and offset.total_seconds() % 3600 == 0:
        hours = int(offset.total_seconds() // 3600)
        # The Etc zones' signs are inverted by POSIX convention: UTC+2 is Etc/GMT-2.
        return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    raise ValueError(f"time zone {tz!r} has no IANA name; use zoneinfo.ZoneInfo('Area/City')")
