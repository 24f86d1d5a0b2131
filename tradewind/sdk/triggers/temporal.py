"""Triggers that wait for a moment: ``DateTimeTrigger`` and ``TimeDeltaTrigger``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum

from tradewind.sdk.triggers.base import BaseTrigger, TriggerEvent, classpath_of

#: The longest one sleep lasts, so a clock that jumps is noticed within this time.
MAX_SLEEP_SECONDS = 60.0


class DateTimeTrigger(BaseTrigger):
    """Fires at ``moment`` (an aware datetime), with the moment as the event's payload."""

    def __init__(self, moment: datetime, *, end_from_trigger: bool = False) -> None:
        super().__init__()
        if not isinstance(moment, datetime):
            raise TypeError(f"Expected datetime.datetime type for moment. Got {type(moment)}")
        if moment.tzinfo is None:
            raise ValueError("You cannot pass naive datetimes")
        self.moment = pendulum.instance(moment.astimezone(UTC))
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the moment."""
        return classpath_of(DateTimeTrigger), {
            "moment": self.moment,
            "end_from_trigger": self.end_from_trigger,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Sleep until the moment (in steps, so a changed clock is seen), then fire."""
        while True:
            remaining = self.moment.timestamp() - time.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, MAX_SLEEP_SECONDS))
        yield TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires ``delta`` after it was created (in the task that deferred)."""

    def __init__(self, delta: timedelta, *, end_from_trigger: bool = False) -> None:
        super().__init__(moment=datetime.now(UTC) + delta, end_from_trigger=end_from_trigger)
