"""WeekDay: the days of the week by ISO number, and the checks of a ``week_day`` argument."""

from __future__ import annotations

import enum
from collections.abc import Iterable


@enum.unique
class WeekDay(enum.IntEnum):
    """A day of the week; the value is its ISO number (Monday is 1, Sunday 7)."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        """The day named ``week_day_str``, in any case ("Sunday", "SUNDAY", "sunday").

        Args:
            week_day_str: the day's full English name.

        Returns:
            The day, an int equal to its ISO number.

        Raises:
            AttributeError: when it names no day (as Airflow raises).

        """
        name = week_day_str.upper()
        if name not in cls.__members__:
            raise AttributeError(f"{week_day_str!r} is not the name of a day of the week")
        return cls[name]

    @classmethod
    def convert(cls, day: str | WeekDay) -> WeekDay:
        """A day given as a WeekDay or by its name.

        Args:
            day: a WeekDay, or a day's full name.

        Returns:
            The day.

        Raises:
            AttributeError: for a name that is no day.
            TypeError: for anything but a WeekDay or a str.

        """
        if isinstance(day, WeekDay):
            return day
        if not isinstance(day, str):
            raise TypeError(f"a day must be a WeekDay or a day's name, got {type(day).__name__}")
        return cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        """The ISO numbers of the days ``week_day`` names.

        Args:
            week_day: a day's name, a WeekDay, or an iterable of them (a set, a list, the
                keys of a dict).

        Returns:
            The days (WeekDay members, equal to their ISO numbers).

        Raises:
            TypeError: for a value that is neither a day nor an iterable of days.
            AttributeError: for a name that is no day.

        """
        days: Iterable[str | WeekDay]
        if isinstance(week_day, WeekDay | str):
            days = {week_day}
        elif isinstance(week_day, Iterable):
            days = week_day
        else:
            raise TypeError(
                "week_day must be a day's name, a WeekDay, or a set, list or dict of them;"
                f" got {type(week_day).__name__}"
            )
        return {cls.convert(day) for day in days}
