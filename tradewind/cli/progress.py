"""Progress of a DAG run on stderr while a command waits for it.

On a terminal one line is redrawn in place; elsewhere (a pipe, a CI log) a line is written per
change, so the record stays readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

from tradewind.cli.output import format_duration
from tradewind.client import DagRun, TaskInstanceState

#: Clear the terminal line before redrawing it.
_REDRAW = "\r\x1b[K"


def progress_line(run: DagRun, elapsed: float) -> str:
    """One line saying where a run stands: its state and its task instances by state.

    Args:
        run: the run as last seen.
        elapsed: seconds since the wait began.

    Returns:
        E.g. ``etl manual__2026-01-01T00:00:00+00:00: running | 2 success, 1 running [3.10s]``.

    """
    counts = ", ".join(
        f"{run.task_counts[state]} {state}"
        for state in TaskInstanceState
        if run.task_counts.get(state)
    )
    spent = format_duration(timedelta(seconds=elapsed))
    return f"{run.dag_id} {run.run_id}: {run.state} | {counts or 'no task instances yet'} [{spent}]"


class RunProgress:
    """Shows each change of a run as it is waited for."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Write to ``stream``; redraw in place when it is a terminal.

        Args:
            stream: usually stderr.
            clock: seconds, for the elapsed time.

        """
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._live = stream.isatty()
        self._drawn = False

    def update(self, run: DagRun) -> None:
        """Show the run as it is now.

        Args:
            run: the run after a change.

        """
        line = progress_line(run, self._clock() - self._started)
        if self._live:
            self._stream.write(_REDRAW + line)
            self._drawn = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End the redrawn line, so that what follows starts on its own line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
