"""TimeSensor: wait until a time of day; TimeSensorAsync, its deprecated deferring form."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.sdk import clock, timezone
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.triggers.temporal import DateTimeTrigger


class TimeSensor(BaseSensorOperator):
    """Wait until ``target_time`` of the day the DAG file was parsed, in the DAG's time zone.

    As in Airflow, the target (``target_datetime``, in UTC) is worked out when the task is
    created, on that day's date: a time already past on that day succeeds at once. With
    ``deferrable`` the task defers to a ``DateTimeTrigger`` at once, without a timeout.

    Args:
        target_time: the time of day after which the sensor succeeds (naive: the DAG's zone).
        deferrable: wait in the triggerer instead of poking from a worker.
        start_from_trigger: accepted for Airflow's signature; the task starts in a worker.
        end_from_trigger: passed to the trigger; the task still resumes in a worker.
        trigger_kwargs: accepted for Airflow's signature, with ``start_from_trigger``.
        **kwargs: BaseSensorOperator arguments.

    """

    display_fields: Sequence[str] = ("target_time", "deferrable")

    def __init__(
        self,
        *,
        target_time: dt.time,
        deferrable: bool = False,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, dt.time):
            raise self.argument_checker().fail(
                f"target_time must be a datetime.time, got {type(target_time).__name__}"
            )
        zone = (self.dag.timezone if self.dag is not None else None) or dt.UTC
        today = clock.utcnow().astimezone(zone).date()
        self.target_time = target_time
        self.target_datetime = timezone.convert_to_utc(
            dt.datetime.combine(today, target_time, tzinfo=zone)
        )
        self.deferrable = deferrable
        self.start_from_trigger = start_from_trigger
        self.end_from_trigger = end_from_trigger

    def execute(self, context: Mapping[str, Any]) -> None:
        """Poke until the time has come, or defer until then.

        Args:
            context: the task instance's context.

        Raises:
            TaskDeferred: with ``deferrable``.

        """
        if self.deferrable:
            self.defer(
                trigger=DateTimeTrigger(
                    moment=self.target_datetime, end_from_trigger=self.end_from_trigger
                ),
                method_name="execute_complete",
            )
        super().execute(context)

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the trigger fired: the time has come, nothing more to do."""
        return None

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Whether now is past the target."""
        self.log.info("Checking if the time (%s) has come", self.target_datetime)
        return clock.utcnow() > self.target_datetime


class TimeSensorAsync(TimeSensor):
    """Deprecated: ``TimeSensor(deferrable=True)``."""

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            "TimeSensorAsync is deprecated and will be removed in a future version."
            " Use `TimeSensor` with deferrable=True instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(deferrable=True, **kwargs)
