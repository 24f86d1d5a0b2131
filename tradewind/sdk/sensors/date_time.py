"""DateTimeSensor: wait until a (templated) date and time; DateTimeSensorAsync defers for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.sdk import clock, timezone
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.triggers.temporal import DateTimeTrigger


class DateTimeSensor(BaseSensorOperator):
    """Wait until ``target_time``, a datetime or a templated string such as ``"{{ ds }}T11:00"``.

    Unlike TimeSensor the target is the same for every run of one logical date, which makes
    backfills immediate. A string (or naive datetime) without an offset is in UTC. With
    ``deferrable`` the task defers to a ``DateTimeTrigger`` at once, without a timeout, as
    DateTimeSensorAsync does.

    Args:
        target_time: the moment after which the sensor succeeds (templated).
        deferrable: wait in the triggerer instead of poking from a worker.
        **kwargs: BaseSensorOperator arguments.

    """

    template_fields: Sequence[str] = ("target_time",)
    display_fields: Sequence[str] = ("deferrable",)

    def __init__(
        self, *, target_time: str | dt.datetime, deferrable: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.target_time = target_time
        self.deferrable = deferrable
        self.end_from_trigger = False

    @property
    def _moment(self) -> dt.datetime:
        target: Any = self.target_time
        if isinstance(target, dt.datetime):
            target = target.isoformat()
        if isinstance(target, str):
            return timezone.parse(target)
        raise TypeError(
            f"Expected str or datetime.datetime type for target_time. Got {type(target)}"
        )

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Whether now is past the target."""
        self.log.info("Checking if the time (%s) has come", self.target_time)
        return clock.utcnow() > self._moment

    def execute(self, context: Mapping[str, Any]) -> None:
        """Poke until the moment has come, or defer until then.

        Args:
            context: the task instance's context.

        Raises:
            TaskDeferred: with ``deferrable``.

        """
        if self.deferrable:
            self.defer(
                trigger=DateTimeTrigger(
                    moment=self._moment, end_from_trigger=self.end_from_trigger
                ),
                method_name="execute_complete",
            )
        super().execute(context)

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the trigger fired: the moment has come, nothing more to do."""
        return None


class DateTimeSensorAsync(DateTimeSensor):
    """DateTimeSensor that defers at once, freeing its worker slot while it waits.

    Args:
        start_from_trigger: accepted for Airflow's signature; the task starts in a worker.
        end_from_trigger: passed to the trigger; the task still resumes in a worker.
        trigger_kwargs: accepted for Airflow's signature, with ``start_from_trigger``.
        **kwargs: DateTimeSensor arguments (``target_time``, ...).

    """

    def __init__(
        self,
        *,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        trigger_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(deferrable=True, **kwargs)
        self.start_from_trigger = start_from_trigger
        self.end_from_trigger = end_from_trigger
