"""Waiting for a DAG run to finish: poll GetDagRun with back-off, report each change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from tradewind.client._errors import WaitTimeoutError
from tradewind.client._models import DagRun
from tradewind.client._runs import RunMethods

#: The first pause between two polls of a run, and the pause after it changed.
POLL_MIN_SECONDS = 0.1
#: The longest pause between two polls of a run that does not change.
POLL_MAX_SECONDS = 1.0
#: How much longer each pause grows while the run does not change.
POLL_BACKOFF = 1.5


def next_poll_delay(delay: float, *, changed: bool) -> float:
    """The pause before the next poll: short after a change, growing while nothing changes.

    Args:
        delay: the previous pause, in seconds.
        changed: whether the last poll saw a change.

    Returns:
        The next pause, in seconds, between POLL_MIN_SECONDS and POLL_MAX_SECONDS.

    """
    if changed:
        return POLL_MIN_SECONDS
    return min(max(delay, POLL_MIN_SECONDS) * POLL_BACKOFF, POLL_MAX_SECONDS)


def _progress(run: DagRun) -> tuple[object, ...]:
    return (run.state, sorted(run.task_counts.items()))


class WaitMethods(RunMethods):
    """Watching a run until it finishes."""

    async def watch_run(self, dag_id: str, run_id: str) -> AsyncIterator[DagRun]:
        """Yield the run now and after each change of its state or task counts, until it ends.

        Args:
            dag_id: the DAG.
            run_id: the run.

        Returns:
            An async iterator of :class:`DagRun`; the last one has finished.

        Raises:
            NotFoundError: no such run (or it was deleted meanwhile).

        """
        seen: tuple[object, ...] | None = None
        delay = POLL_MIN_SECONDS
        while True:
            run = await self.get_dag_run(dag_id, run_id)
            changed = _progress(run) != seen
            if changed:
                seen = _progress(run)
                yield run
            if run.state.finished:
                return
            delay = next_poll_delay(delay, changed=changed)
            await asyncio.sleep(delay)

    async def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the deadline of the whole wait
        on_change: Callable[[DagRun], None] | None = None,
    ) -> DagRun:
        """Wait until a run has finished (success or failed).

        Args:
            dag_id: the DAG.
            run_id: the run.
            timeout: give up after this many seconds; None to wait as long as it takes.
            on_change: called with the run now and after each change, e.g. to show progress.

        Returns:
            The finished run.

        Raises:
            WaitTimeoutError: the run had not finished within ``timeout``.
            NotFoundError: no such run.

        """
        last: DagRun | None = None
        try:
            async with asyncio.timeout(timeout):
                async for run in self.watch_run(dag_id, run_id):
                    last = run
                    if on_change is not None:
                        on_change(run)
        except TimeoutError as err:
            state = f" (it is {last.state})" if last is not None else ""
            raise WaitTimeoutError(
                f"run {run_id!r} of DAG {dag_id!r} did not finish within {timeout:g}s{state}"
            ) from err
        assert last is not None  # watch_run yields at least once before it ends
        return last
