"""Notices a trigger that holds the event loop, reports it, and interrupts it past a limit.

A thread watches a heartbeat the loop beats every few milliseconds. When the beat is late
by more than the threshold, the loop is blocked: the thread looks at the loop thread's stack
for the trigger running (its ``_run_one`` frame) and reports it in the log and the metrics.
Past the limit it sends the loop thread a signal whose handler raises ``TriggerBlocked`` in
that trigger, so the trigger fails (its task resumes to fail) and the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from triggerer import metrics
from triggerer.runner import RUN_ONE, TriggerBlocked

logger = logging.getLogger("tradewind.triggerer")

BEAT_SECONDS = 0.02
INTERRUPT_SIGNAL = signal.SIGUSR2


def running_trigger(frame: FrameType | None) -> int | None:
    """The id of the trigger whose ``_run_one`` is on this stack, if one is."""
    while frame is not None:
        if frame.f_code.co_name == RUN_ONE:
            spec = frame.f_locals.get("spec")
            return getattr(spec, "trigger_id", None)
        frame = frame.f_back
    return None


class LoopWatchdog:
    """Watches one event loop from a thread."""

    def __init__(self, threshold: float, limit: float) -> None:
        self._threshold = threshold
        self._limit = limit
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._culprit: int | None = None
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._beater: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start beating (from the loop's thread, the main one) and watching."""
        self._loop_thread = threading.get_ident()
        if threading.current_thread() is threading.main_thread():
            signal.signal(INTERRUPT_SIGNAL, self._interrupt)
        self._beater = asyncio.get_running_loop().create_task(self._beat_loop())
        self._thread.start()

    async def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._beater is not None:
            self._beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beater

    async def _beat_loop(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(BEAT_SECONDS)

    def _watch(self) -> None:
        reported = 0.0
        interrupted_beat = None
        while not self._stop.wait(BEAT_SECONDS):
            late = time.monotonic() - self._beat - BEAT_SECONDS
            if late <= self._threshold:
                reported = 0.0
                continue
            beat = self._beat
            frame = sys._current_frames().get(self._loop_thread)
            culprit = running_trigger(frame)
            if not reported:
                where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "unknown"
                logger.warning(
                    "the event loop is blocked",
                    extra={
                        "trigger_id": culprit,
                        "detail": f"trigger {culprit} holds the event loop at {where}; use"
                        " asyncio.sleep, async I/O or asyncio.to_thread in triggers",
                    },
                )
            metrics.BLOCKED_SECONDS.inc(late - reported)
            reported = late
            if late > self._limit and culprit is not None and interrupted_beat != beat:
                interrupted_beat = beat
                self._culprit = culprit
                logger.error(
                    "interrupting a trigger that blocks the event loop",
                    extra={"trigger_id": culprit, "detail": f"blocked for {late:.1f} s"},
                )
                os.kill(os.getpid(), INTERRUPT_SIGNAL)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        culprit, self._culprit = self._culprit, None
        if culprit is not None and running_trigger(frame) == culprit:
            raise TriggerBlocked(
                f"the trigger blocked the event loop for more than {self._limit:g} s"
            )
