"""BranchDateTimeOperator: follow one branch inside a window of date and time, another outside."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from tradewind.sdk import clock
from tradewind.sdk.operators.branch import BaseBranchOperator

#: What a target bound may be.
Target = dt.datetime | dt.time | None


class BranchDateTimeOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` when the moment is within the targets, else the other.

    The moment is now, or the run's logical date with ``use_task_logical_date``; it is within
    the targets when ``target_lower <= moment <= target_upper`` (a missing bound is open). A
    ``datetime.time`` target is put on the moment's date (in UTC, as Airflow does); when an
    upper time falls before the lower bound, a day is added to it, for windows that cross
    midnight. Naive targets are in the DAG's time zone.

    Args:
        follow_task_ids_if_true: task or task group id(s) to follow within the targets.
        follow_task_ids_if_false: task or task group id(s) to follow outside them.
        target_lower: the lower bound: a datetime, a time, or None.
        target_upper: the upper bound: a datetime, a time, or None.
        use_task_logical_date: compare the run's logical date instead of now.
        **kwargs: BaseOperator arguments.

    """

    display_fields = (
        "follow_task_ids_if_true",
        "follow_task_ids_if_false",
        "target_lower",
        "target_upper",
        "use_task_logical_date",
    )

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: Target,
        target_upper: Target,
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check = self.argument_checker()
        if target_lower is None and target_upper is None:
            raise check.fail(
                "both target_lower and target_upper are None;"
                " at least one is needed to compare the date and time with"
            )
        for name, value in (("target_lower", target_lower), ("target_upper", target_upper)):
            if value is not None and not isinstance(value, dt.datetime | dt.time):
                raise check.fail(
                    f"{name} must be a datetime.datetime, a datetime.time or None,"
                    f" got {type(value).__name__}"
                )
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.use_task_logical_date = check.boolean("use_task_logical_date", use_task_logical_date)

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        """The true branch when the moment is within the targets, else the false one.

        Args:
            context: the task instance's context.

        Returns:
            ``follow_task_ids_if_true`` or ``follow_task_ids_if_false``.

        """
        moment: dt.datetime = (
            context["logical_date"] if self.use_task_logical_date else clock.utcnow()
        )
        zone = self._require_dag().timezone or dt.UTC
        if within_targets(moment, self.target_lower, self.target_upper, zone):
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false


def target_bounds(
    moment: dt.datetime, lower: Target, upper: Target, zone: dt.tzinfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The targets as aware datetimes around ``moment``.

    Args:
        moment: the aware datetime compared; times are put on its UTC date.
        lower: the lower target.
        upper: the upper target.
        zone: the time zone of naive targets (the DAG's).

    Returns:
        ``(lower, upper)``; an upper time before the lower bound is moved a day later.

    """
    day = moment.astimezone(dt.UTC).date()
    low, high = _on_day(lower, day, zone), _on_day(upper, day, zone)
    both_datetimes = isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime)
    if not both_datetimes and low is not None and high is not None and high < low:
        high += dt.timedelta(days=1)
    return low, high


def within_targets(moment: dt.datetime, lower: Target, upper: Target, zone: dt.tzinfo) -> bool:
    """Whether ``moment`` is within the targets, bounds included.

    Args:
        moment: an aware datetime.
        lower: the lower target, or None.
        upper: the upper target, or None.
        zone: the time zone of naive targets.

    Returns:
        True within, False outside.

    """
    low, high = target_bounds(moment, lower, upper, zone)
    if high is not None and high < moment:
        return False
    return not (low is not None and low > moment)


def _on_day(target: Target, day: dt.date, zone: dt.tzinfo) -> dt.datetime | None:
    if target is None:
        return None
    moment = target if isinstance(target, dt.datetime) else dt.datetime.combine(day, target)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
