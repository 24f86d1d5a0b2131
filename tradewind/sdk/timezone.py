"""Time zone helpers with Airflow's names (``from tradewind import timezone``).

Tradewind keeps every date in UTC, as Airflow does; these helpers make aware datetimes
(pendulum ``DateTime``), convert them, and tell naive from aware ones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

import pendulum
from pendulum.tz import local_timezone as local_zone
from pendulum.tz.timezone import FixedTimezone, Timezone

#: The UTC time zone.
utc: Timezone = pendulum.UTC

__all__ = [
    "coerce_datetime",
    "convert_to_utc",
    "datetime",
    "from_timestamp",
    "is_localized",
    "is_naive",
    "local_timezone",
    "make_aware",
    "make_naive",
    "parse",
    "utc",
    "utc_epoch",
    "utcnow",
]


def is_localized(value: dt.datetime) -> bool:
    """Whether ``value`` is aware (has a time zone with an offset)."""
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    """Whether ``value`` is naive (no time zone)."""
    return value.utcoffset() is None


def utcnow() -> pendulum.DateTime:
    """Now, in UTC."""
    return pendulum.now(utc)


def utc_epoch() -> pendulum.DateTime:
    """1970-01-01 00:00 UTC."""
    return pendulum.datetime(1970, 1, 1, tz=utc)


def local_timezone() -> Timezone | FixedTimezone:
    """The machine's local time zone."""
    return local_zone()


@overload
def convert_to_utc(value: None) -> None: ...


@overload
def convert_to_utc(value: dt.datetime) -> pendulum.DateTime: ...


def convert_to_utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    """``value`` in UTC; a naive value is taken as UTC."""
    if value is None:
        return None
    if is_naive(value):
        value = value.replace(tzinfo=utc)
    return pendulum.instance(value.astimezone(utc), tz=utc)


def make_aware(value: dt.datetime, timezone: dt.tzinfo | str | None = None) -> pendulum.DateTime:
    """A naive ``value`` read as wall time in ``timezone`` (UTC by default).

    Raises:
        ValueError: ``value`` is already aware.

    """
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    zone = _zone(timezone)
    return pendulum.instance(value.replace(tzinfo=None), tz=zone)


def make_naive(value: dt.datetime, timezone: dt.tzinfo | str | None = None) -> dt.datetime:
    """An aware ``value`` as naive wall time in ``timezone`` (UTC by default).

    Raises:
        ValueError: ``value`` is naive.

    """
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    local = value.astimezone(_zone(timezone))
    return dt.datetime(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
    )


def datetime(*args: Any, **kwargs: Any) -> pendulum.DateTime:
    """``datetime.datetime(...)``, aware: ``tzinfo`` defaults to UTC."""
    if "tzinfo" not in kwargs and len(args) < 8:
        kwargs["tzinfo"] = utc
    return pendulum.instance(dt.datetime(*args, **kwargs))


def parse(string: str, timezone: dt.tzinfo | str | None = None) -> pendulum.DateTime:
    """Parse an ISO 8601 (or RFC 3339) date and time; without an offset, in ``timezone``."""
    parsed = pendulum.parse(string, tz=_zone(timezone), strict=False)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"{string!r} is not a date and time")
    return parsed


@overload
def coerce_datetime(value: None, tz: dt.tzinfo | None = None) -> None: ...


@overload
def coerce_datetime(value: dt.datetime, tz: dt.tzinfo | None = None) -> pendulum.DateTime: ...


def coerce_datetime(
    value: dt.datetime | None, tz: dt.tzinfo | None = None
) -> pendulum.DateTime | None:
    """``value`` as a pendulum DateTime; a naive one is taken in ``tz`` (UTC by default)."""
    if value is None:
        return None
    if isinstance(value, pendulum.DateTime) and is_localized(value):
        return value
    if is_naive(value):
        return pendulum.instance(value.replace(tzinfo=None), tz=_zone(tz))
    return pendulum.instance(value)


def from_timestamp(timestamp: float, tz: dt.tzinfo | str | None = None) -> pendulum.DateTime:
    """The moment of a POSIX timestamp, in ``tz`` (UTC by default)."""
    return pendulum.from_timestamp(timestamp, tz=_zone(tz))


def _zone(timezone: dt.tzinfo | str | None) -> Any:
    if timezone is None:
        return utc
    if isinstance(timezone, str):
        return pendulum.timezone(timezone)
    return timezone
