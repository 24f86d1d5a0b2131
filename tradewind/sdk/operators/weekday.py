"""BranchDayOfWeekOperator: follow one branch on some days of the week, another on the others."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from tradewind.sdk import clock
from tradewind.sdk.operators.branch import BaseBranchOperator
from tradewind.sdk.weekday import WeekDay


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` on the days of ``week_day``, else the other branch.

    The day is today in the DAG's time zone, or the weekday of the run's logical date (in
    UTC, as Airflow does) with ``use_task_logical_date``.

    Args:
        follow_task_ids_if_true: task or task group id(s) to follow on those days.
        follow_task_ids_if_false: task or task group id(s) to follow on the other days.
        week_day: a day's full name ("Monday", any case), a ``WeekDay``, or a set (list,
            dict) of them.
        use_task_logical_date: use the run's logical date instead of today.
        **kwargs: BaseOperator arguments.

    """

    display_fields = (
        "follow_task_ids_if_true",
        "follow_task_ids_if_false",
        "week_day",
        "use_task_logical_date",
    )

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check = self.argument_checker()
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = check.boolean("use_task_logical_date", use_task_logical_date)
        try:
            self._week_day_num = WeekDay.validate_week_day(week_day)
        except (AttributeError, TypeError) as error:
            raise check.fail(f"invalid week_day {week_day!r}: {error}") from error

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        """The true branch on the chosen days, else the false one.

        Args:
            context: the task instance's context.

        Returns:
            ``follow_task_ids_if_true`` or ``follow_task_ids_if_false``.

        """
        if self.use_task_logical_date:
            moment: dt.datetime = context["logical_date"]
        else:
            moment = clock.utcnow().astimezone(self._require_dag().timezone or dt.UTC)
        if moment.isoweekday() in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false
