"""BaseSensorOperator and PokeReturnValue, with Airflow 3's semantics.

``mode="poke"`` sleeps between pokes in its try's process, holding its slot; in
``mode="reschedule"`` each poke that finds nothing ends the process (the instance waits in
``up_for_reschedule``, holding no slot) and the next poke is a new process of the same try. The
timeout counts from the first poke: in reschedule mode from the first poke since the instance
was last cleared (the state service keeps it), so retries do not reset it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tradewind.sdk import clock
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.exceptions import (
    SensorTimeout,
    TaskDeferralTimeout,
    TaskFailedNoRetry,
    TaskRescheduled,
    TaskSkipped,
    TaskTimedOut,
    TradewindException,
)

logger = logging.getLogger("tradewind.task")

#: Airflow's [sensors] default_timeout: seven days.
DEFAULT_SENSOR_TIMEOUT = 60 * 60 * 24 * 7
#: soft_fail (and never_fail) turn these into a skip, from poke() or after a deferral.
SOFT_FAIL_EXCEPTIONS = (SensorTimeout, TaskTimedOut, TaskFailedNoRetry)


class PokeReturnValue:
    """What ``poke`` may return: whether the sensor is done, and the value to push as XCom."""

    def __init__(self, is_done: bool, xcom_value: Any | None = None) -> None:
        self.xcom_value = xcom_value
        self.is_done = is_done

    def __bool__(self) -> bool:
        return self.is_done

    def __repr__(self) -> str:
        return f"PokeReturnValue(is_done={self.is_done!r}, xcom_value={self.xcom_value!r})"


def _seconds(value: dt.timedelta | float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"Operator arg `{name}` must be timedelta object or a non-negative number")


class BaseSensorOperator(BaseOperator):
    """Waits until ``poke`` returns True (or a true PokeReturnValue).

    Args:
        poke_interval: time between pokes (seconds or timedelta).
        timeout: time from the first poke after which the sensor fails (or skips with
            soft_fail); seven days by default.
        soft_fail: skip instead of failing on timeout (or TaskFailedNoRetry).
        mode: "poke" (hold the slot and sleep) or "reschedule" (free the slot between pokes).
        exponential_backoff: lengthen the wait between pokes exponentially.
        max_wait: the longest wait between pokes.
        silent_fail: an error raised by poke is logged and counts as "not yet".
        never_fail: any error of poke (and a timeout) skips the sensor.
        **kwargs: BaseOperator arguments.

    """

    ui_color: str = "#e6f1f2"
    valid_modes: Iterable[str] = ("poke", "reschedule")
    _is_sensor: bool = True

    def __init__(
        self,
        *,
        poke_interval: dt.timedelta | float = 60,
        timeout: dt.timedelta | float | None = None,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: dt.timedelta | float | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(poke_interval, "poke_interval") or 0.0
        self.soft_fail = soft_fail
        seconds = _seconds(DEFAULT_SENSOR_TIMEOUT if timeout is None else timeout, "timeout")
        self.timeout: float = seconds if seconds is not None else DEFAULT_SENSOR_TIMEOUT
        self.mode = mode
        self.exponential_backoff = exponential_backoff
        wait = _seconds(max_wait, "max_wait")
        self.max_wait = dt.timedelta(seconds=wait) if wait is not None else None
        if soft_fail and never_fail:
            raise ValueError(
                "soft_fail and never_fail are mutually exclusive, you can not provide both."
            )
        self.silent_fail = silent_fail
        self.never_fail = never_fail
        if self.mode not in self.valid_modes:
            raise ValueError(
                f"The mode must be one of {list(self.valid_modes)},'{self.task_id}';"
                f" received '{self.mode}'."
            )

    @property
    def reschedule(self) -> bool:
        """Whether the sensor frees its slot between pokes."""
        return self.mode == "reschedule"

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Whether what the sensor waits for is there; override it."""
        raise TradewindException("Override me.")

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke until done, timed out, or (in reschedule mode) the poke found nothing."""
        started_at: dt.datetime | float
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            start_date = first or clock.utcnow()
            started_at = start_date

            def run_duration() -> float:
                return (clock.utcnow() - start_date).total_seconds()

        else:
            started_at = start_monotonic = time.monotonic()

            def run_duration() -> float:
                return time.monotonic() - start_monotonic

        poke_count = 1
        xcom_value = None
        while True:
            poke_return = self._poke_once(context)
            if poke_return:
                if isinstance(poke_return, PokeReturnValue):
                    xcom_value = poke_return.xcom_value
                break
            if run_duration() > self.timeout:
                message = (
                    f"Sensor has timed out; run duration of {run_duration()} seconds exceeds"
                    f" the specified timeout of {self.timeout}."
                )
                if self.soft_fail:
                    raise TaskSkipped(message)
                raise SensorTimeout(message)
            interval = self._get_next_poke_interval(started_at, run_duration, poke_count)
            if self.reschedule:
                raise TaskRescheduled(clock.utcnow() + dt.timedelta(seconds=interval))
            time.sleep(interval)
            poke_count += 1
        self.log.info("Success criteria met. Exiting.")
        return xcom_value

    def _poke_once(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        try:
            return self.poke(context)
        except SOFT_FAIL_EXCEPTIONS as error:
            self._skip_if_soft(error, soft=True)
            raise
        except TaskSkipped:
            raise
        except Exception as error:
            if self.silent_fail:
                self.log.error("Sensor poke failed: \n %s", traceback.format_exc())
                return False
            self._skip_if_soft(error, soft=False)
            raise

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Mapping[str, Any]
    ) -> Any:
        """Resume after a deferral: a trigger timeout is a sensor timeout (soft_fail skips)."""
        try:
            try:
                return super().resume_execution(next_method, next_kwargs, context)
            except TaskDeferralTimeout as error:
                raise SensorTimeout(*error.args) from error
        except SOFT_FAIL_EXCEPTIONS as error:
            self._skip_if_soft(error, soft=True)
            raise
        except TaskSkipped:
            raise
        except TradewindException as error:
            self._skip_if_soft(error, soft=False)
            raise

    def _skip_if_soft(self, error: BaseException, *, soft: bool) -> None:
        """Turn ``error`` into a skip under soft_fail (when ``soft``) or never_fail.

        Raises:
            TaskSkipped: the sensor's settings turn the error into a skip.

        """
        if soft and self.soft_fail:
            raise TaskSkipped("Skipping due to soft_fail is set to True.") from error
        if self.never_fail:
            raise TaskSkipped("Skipping due to never_fail is set to True.") from error

    def _get_next_poke_interval(
        self,
        started_at: dt.datetime | float,
        run_duration: Callable[[], float],
        poke_count: int,
    ) -> float:
        """The wait before the next poke: the interval, or Airflow's exponential back-off."""
        if not self.exponential_backoff:
            return self.poke_interval
        if self.reschedule:
            # Each poke is a new process: estimate how many pokes the elapsed time held.
            elapsed = run_duration()
            cumulative = 0.0
            estimated = 0
            while cumulative <= elapsed:
                estimated += 1
                cumulative += self._backoff(started_at, estimated)
            poke_count = estimated or poke_count
        interval = min(self.timeout - int(run_duration()), self._backoff(started_at, poke_count))
        if self.max_wait:
            interval = min(self.max_wait.total_seconds(), interval)
        self.log.info("new %s interval is %s", self.mode, interval)
        return interval

    def _backoff(self, started_at: dt.datetime | float, poke_count: int) -> float:
        min_backoff = max(int(self.poke_interval * (2 ** (poke_count - 2))), 1)
        digest = hashlib.sha1(
            f"{self.dag_id}#{self.task_id}#{started_at}#{poke_count}".encode(),
            usedforsecurity=False,
        ).hexdigest()
        modded = min_backoff + int(digest, 16) % min_backoff
        return float(min(modded, dt.timedelta.max.total_seconds() - 1))


def poke_mode_only(cls: type[BaseSensorOperator]) -> type[BaseSensorOperator]:
    """Mark a sensor class as safe only in poke mode: setting another mode raises."""
    if not issubclass(cls, BaseSensorOperator):
        raise ValueError(f"poke_mode_only decorator should only be applied to sensors: {cls}")

    def mode_getter(self: BaseSensorOperator) -> str:
        return "poke"

    def mode_setter(self: BaseSensorOperator, value: str) -> None:
        if value != "poke":
            raise ValueError(f"Cannot set mode to '{value}'. Only 'poke' is acceptable")

    cls.mode = property(mode_getter, mode_setter)  # type: ignore[assignment]
    return cls
