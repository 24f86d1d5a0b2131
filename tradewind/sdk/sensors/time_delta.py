"""TimeDeltaSensor: wait until a delta after the run's data interval; WaitSensor: a fixed wait."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.sdk import clock
from tradewind.sdk.exceptions import TaskSkipped
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger


class TimeDeltaSensor(BaseSensorOperator):
    """Wait until ``delta`` after the end of the run's data interval.

    Without a data interval end the run's ``run_after`` (else its logical date) is the base,
    as in Airflow 3. With ``deferrable`` a target already past succeeds at once (returning
    True, Airflow's "return_value"); otherwise the task defers to a ``DateTimeTrigger`` with
    the sensor's timeout.

    Args:
        delta: how long after the base to wait.
        deferrable: wait in the triggerer instead of poking from a worker.
        end_from_trigger: passed to the trigger; the task still resumes in a worker.
        **kwargs: BaseSensorOperator arguments.

    """

    display_fields: Sequence[str] = ("delta", "deferrable")

    def __init__(
        self,
        *,
        delta: dt.timedelta,
        deferrable: bool = False,
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.delta = delta
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger

    def _derive_base_time(self, context: Mapping[str, Any]) -> dt.datetime:
        """The moment ``delta`` counts from: data_interval_end, else the run's run_after."""
        data_interval_end = context.get("data_interval_end")
        if data_interval_end:
            if not isinstance(data_interval_end, dt.datetime):
                raise ValueError("`data_interval_end` returned non-datetime object")
            return data_interval_end
        dag_run = context.get("dag_run")
        if not dag_run:
            raise ValueError("`dag_run` not found in task context")
        base: dt.datetime = getattr(dag_run, "run_after", None) or dag_run.logical_date
        return base

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Whether now is past base + delta."""
        base_time = self._derive_base_time(context)
        self.log.info(
            "Checking if the delta has elapsed base_time=%s, delta=%s", base_time, self.delta
        )
        return clock.utcnow() > base_time + self.delta

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke until the moment has come, or defer until then.

        Args:
            context: the task instance's context.

        Returns:
            None; True with ``deferrable`` when the moment had already come.

        Raises:
            TaskDeferred: with ``deferrable``, before the moment.

        """
        if not self.deferrable:
            return super().execute(context)
        target = self._derive_base_time(context) + self.delta
        if clock.utcnow() > target:
            return True
        try:
            trigger = DateTimeTrigger(moment=target, end_from_trigger=self.end_from_trigger)
        except (TypeError, ValueError) as error:
            if self.soft_fail:
                raise TaskSkipped("Skipping due to soft_fail is set to True.") from error
            raise
        self.defer(trigger=trigger, method_name="execute_complete", timeout=self.timeout)

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the trigger fired: the moment has come, nothing more to do."""
        return None


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Deprecated: ``TimeDeltaSensor(deferrable=True)``."""

    def __init__(
        self, *, end_from_trigger: bool = False, delta: dt.timedelta, **kwargs: Any
    ) -> None:
        warnings.warn(
            "TimeDeltaSensorAsync is deprecated and will be removed in a future version."
            " Use `TimeDeltaSensor` with `deferrable=True` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(delta=delta, deferrable=True, end_from_trigger=end_from_trigger, **kwargs)


class WaitSensor(BaseSensorOperator):
    """Wait ``time_to_wait`` from the moment the task starts (not from the data interval).

    Args:
        time_to_wait: how long to wait; an int is minutes.
        deferrable: wait in the triggerer (a ``TimeDeltaTrigger``) instead of sleeping.
        **kwargs: BaseSensorOperator arguments.

    """

    display_fields: Sequence[str] = ("time_to_wait", "deferrable")

    def __init__(
        self, *, time_to_wait: dt.timedelta | int, deferrable: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.time_to_wait = (
            dt.timedelta(minutes=time_to_wait) if isinstance(time_to_wait, int) else time_to_wait
        )

    def execute(self, context: Mapping[str, Any]) -> None:
        """Sleep for ``time_to_wait``, or defer for it.

        Args:
            context: the task instance's context.

        Raises:
            TaskDeferred: with ``deferrable``.

        """
        if self.deferrable:
            self.defer(
                trigger=TimeDeltaTrigger(self.time_to_wait, end_from_trigger=True),
                method_name="execute_complete",
            )
        time.sleep(max(0.0, self.time_to_wait.total_seconds()))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the trigger fired: the wait is over."""
        return None
