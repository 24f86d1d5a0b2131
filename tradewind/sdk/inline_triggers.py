"""Running a deferred try's trigger in this process, for ``dag.test()``.

The triggerer's job, done inline: the trigger is rebuilt from its stored form, run to its first
event (within the deferral's timeout), and the answer is where the try resumes, exactly as the
state service would resume it: the deferral's method with the event, or ``__fail__`` with why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import traceback
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from core.deferral import TRIGGER_FAIL_METHOD, TriggerFailureReason, failure_kwargs, resumed_kwargs
from core.states import TryOutcome
from tradewind.sdk import clock, serde
from tradewind.sdk.context import Context
from tradewind.sdk.execution import Deferral, Resumption, TaskResult, execute_task
from tradewind.sdk.triggers.base import BaseTrigger, TriggerEvent, load_trigger

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator

logger = logging.getLogger("tradewind.testing")

_T = TypeVar("_T")


class _TimedOut:
    """The trigger did not fire within the deferral's timeout."""


def run_deferral(deferral: Deferral) -> Resumption:
    """Run the trigger of ``deferral`` to its first event; where the deferred try resumes.

    Args:
        deferral: the stored deferral a try ended with.

    Returns:
        ``next_method`` with the deferral's kwargs and the event as ``event``; or
        ``__fail__`` with Airflow's reason when the trigger timed out, failed, could not be
        built, or ended without an event.

    """
    timeout = deferral.timeout.total_seconds() if deferral.timeout is not None else None
    try:
        trigger = load_trigger(deferral.trigger_classpath, deferral.trigger_kwargs_json)
        fired = _run(_first_event(trigger, timeout))
        if isinstance(fired, _TimedOut):
            logger.info("trigger %s timed out after %s s", deferral.trigger_classpath, timeout)
            return _fail(failure_kwargs(TriggerFailureReason.TRIGGER_TIMEOUT))
        payload_json = serde.dumps(fired.payload)
    except Exception as error:
        logger.warning("trigger %s failed: %s", deferral.trigger_classpath, error)
        why = failure_kwargs(
            TriggerFailureReason.TRIGGER_FAILURE,
            f"{type(error).__name__}: {error}",
            "".join(traceback.format_exception(error)),
        )
        return _fail(why)
    kwargs = serde.loads(resumed_kwargs(deferral.next_kwargs_json, payload_json))
    return Resumption(deferral.next_method, kwargs)


def _fail(kwargs_json: str) -> Resumption:
    return Resumption(TRIGGER_FAIL_METHOD, serde.loads(kwargs_json))


async def _first_event(trigger: BaseTrigger, within: float | None) -> TriggerEvent | _TimedOut:
    """The trigger's first event, or _TimedOut after ``within`` seconds; its errors propagate."""
    events = trigger.run()
    scope = asyncio.timeout(within)
    try:
        async with scope:
            async for event in events:
                return event
        raise RuntimeError("the trigger ended without yielding an event")
    except TimeoutError:
        # The deadline's (raised by the scope), unless the trigger raised one of its own.
        if scope.expired():
            return _TimedOut()
        raise
    finally:
        if isinstance(events, AsyncGenerator):
            await events.aclose()
        await trigger.cleanup()


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to its end, on a thread of its own if this one runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class Pokes:
    """A reschedule-mode sensor's reschedules, kept across its retries as the state service does."""

    reschedules: int = 0
    #: When its first poke started.
    first_started_at: datetime | None = None


def run_to_end(
    task: BaseOperator, context: Callable[[], Context], *, will_retry: bool, pokes: Pokes
) -> TaskResult:
    """One try, carried on through its deferrals and reschedules until it ends otherwise.

    A deferral's trigger runs here and the try resumes where the state service would resume
    it; a reschedule waits until the next poke is due and pokes again, counted in ``pokes``.
    """
    resume: Resumption | None = None
    while True:
        started_at = clock.utcnow()
        result = execute_task(task, context(), will_retry=will_retry, resume=resume)
        if result.outcome == TryOutcome.DEFERRED and result.deferral is not None:
            resume = run_deferral(result.deferral)
        elif result.outcome == TryOutcome.RESCHEDULED and result.reschedule_date is not None:
            pokes.reschedules += 1
            pokes.first_started_at = pokes.first_started_at or started_at
            resume = None
            due = result.reschedule_date
            due = due if due.tzinfo is not None else due.replace(tzinfo=UTC)
            time.sleep(max(0.0, (due - clock.utcnow()).total_seconds()))
        else:
            return result
