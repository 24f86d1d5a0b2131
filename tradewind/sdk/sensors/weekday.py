"""DayOfWeekSensor: wait until one of the given days of the week."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tradewind.sdk import clock
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.weekday import WeekDay


class DayOfWeekSensor(BaseSensorOperator):
    """Wait until today (in UTC) is one of ``week_day``, or check the run's logical date.

    With ``use_task_logical_date`` the day is the logical date's (so a run for a Saturday
    passes at once in a backfill, and a run for another day never does); otherwise it is
    today's in UTC, as in Airflow.

    Args:
        week_day: a day's full name ("Saturday", any case), a ``WeekDay``, or a set (list,
            dict) of them.
        use_task_logical_date: compare the run's logical date instead of today.
        **kwargs: BaseSensorOperator arguments.

    """

    display_fields: Sequence[str] = ("week_day", "use_task_logical_date")

    def __init__(
        self,
        *,
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check = self.argument_checker()
        self.week_day = week_day
        self.use_task_logical_date = check.boolean("use_task_logical_date", use_task_logical_date)
        try:
            self._week_day_num = WeekDay.validate_week_day(week_day)
        except (AttributeError, TypeError) as error:
            raise check.fail(f"invalid week_day {week_day!r}: {error}") from error

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Whether the day (today's or the logical date's) is one of ``week_day``."""
        today = clock.utcnow().isoweekday()
        self.log.info(
            "Poking until weekday is in %s, Today is %s", self.week_day, WeekDay(today).name
        )
        if self.use_task_logical_date:
            return context["logical_date"].isoweekday() in self._week_day_num
        return today in self._week_day_num
