"""Progress of a DAG run on stderr while a command waits for it.

On a terminal one status line is redrawn in place, every half second (the elapsed time moves
even when nothing else does): the run's state, its task instances by state and the tasks
running now. Elsewhere (a pipe, a CI log) a plain line is written for each change and every
ten seconds without one, so the record stays readable and shows the wait is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TextIO

from tradewind.cli.output import format_duration
from tradewind.client import Client, DagRun, DagRunState, TaskInstanceState

#: Clear the terminal line before redrawing it.
_REDRAW = "\r\x1b[K"
#: How often the terminal line is redrawn.
REDRAW_SECONDS = 0.5
#: How often a plain line is written when nothing changed.
HEARTBEAT_SECONDS = 10.0
#: Running tasks named on the line at most.
MAX_NAMED = 3


def progress_line(
    run: DagRun, elapsed: float, running: Sequence[str] = (), *, paused: bool = False
) -> str:
    """One line saying where a run stands.

    Args:
        run: the run as last seen.
        elapsed: seconds since the wait began.
        running: the tasks running now.
        paused: the run's DAG is paused (a queued run waits for an unpause).

    Returns:
        E.g. ``etl manual__2026-01-01T00:00:00+00:00: running | 2 success, 1 running
        [3.10s] running: load``.

    """
    counts = ", ".join(
        f"{run.task_counts[state]} {state}"
        for state in TaskInstanceState
        if run.task_counts.get(state)
    )
    spent = format_duration(timedelta(seconds=elapsed))
    line = f"{run.dag_id} {run.run_id}: {run.state} | {counts or 'no task instances yet'} [{spent}]"
    if running:
        more = f" and {len(running) - MAX_NAMED} more" if len(running) > MAX_NAMED else ""
        line += f" running: {', '.join(running[:MAX_NAMED])}{more}"
    if paused and not run.state.finished:
        line += " (the DAG is paused: waiting for an unpause)"
    return line


class RunProgress:
    """Shows a run as it is waited for."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Write to ``stream``; redraw in place when it is a terminal.

        Args:
            stream: usually stderr.
            clock: seconds, for the elapsed time.

        """
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self.live = stream.isatty()
        self._drawn = False
        self._last_written = clock()
        self.run: DagRun | None = None
        self.running: tuple[str, ...] = ()
        self.paused = False

    def update(self, run: DagRun, running: Sequence[str] = ()) -> None:
        """Show the run after a change.

        Args:
            run: the run now.
            running: the tasks running now.

        """
        self.run, self.running = run, tuple(running)
        self._write()

    def tick(self) -> None:
        """Show that the wait goes on: redraw the line, or a plain line after a quiet spell."""
        if self.run is None:
            return
        if self.live or self._clock() - self._last_written >= HEARTBEAT_SECONDS:
            self._write()

    def _write(self) -> None:
        assert self.run is not None
        line = progress_line(
            self.run, self._clock() - self._started, self.running, paused=self.paused
        )
        if self.live:
            self._stream.write(_REDRAW + line)
            self._drawn = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
        self._last_written = self._clock()

    def close(self) -> None:
        """End the redrawn line, so that what follows starts on its own line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


async def follow_run(
    client: Client,
    run: DagRun,
    progress: RunProgress,
    *,
    timeout: float | None,  # noqa: ASYNC109 - the deadline of the whole wait
    paused: bool = False,
) -> DagRun:
    """Wait for a run to end while ``progress`` shows it; return the finished run.

    Each change is shown with the tasks running at that moment, in the order the changes came.
    """
    progress.paused = paused
    changes: asyncio.Queue[DagRun | None] = asyncio.Queue()

    async def show_changes() -> None:
        while (now := await changes.get()) is not None:
            progress.update(now, await _running_tasks(client, now))

    async def ticking() -> None:
        while True:
            await asyncio.sleep(REDRAW_SECONDS if progress.live else 1.0)
            progress.tick()

    shower = asyncio.create_task(show_changes())
    ticker = asyncio.create_task(ticking())
    try:
        finished = await client.wait_for_run(
            run.dag_id, run.run_id, timeout=timeout, on_change=changes.put_nowait
        )
        changes.put_nowait(None)
        await shower
        return finished
    finally:
        for task in (ticker, shower):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        progress.close()


async def _running_tasks(client: Client, run: DagRun) -> list[str]:
    if run.state is not DagRunState.RUNNING or not run.task_counts.get(TaskInstanceState.RUNNING):
        return []
    return [
        ti.task_id
        async for ti in client.task_instances(
            run.dag_id, run.run_id, states=[TaskInstanceState.RUNNING]
        )
    ]
