"""Runs asset watchers' event triggers as asyncio tasks; knows nothing of gRPC.

A watcher's trigger runs until it is cancelled (its lease was lost, its DAGs were paused, the
triggerer stops). Each event it yields waits in a queue, with an id of its own, for the service
to report it; when ``run()`` ends the trigger is built and run again, and when it raises it is
run again after a back-off that grows to a minute, as Airflow's triggerer re-runs the triggers
of asset watchers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from tradewind.sdk import serde
from tradewind.sdk.asset_state import AssetStateBackend, AssetStateStoreAccessors
from tradewind.sdk.assets import Asset
from tradewind.sdk.triggers.base import BaseEventTrigger
from triggerer import metrics
from triggerer.runner import TriggerLoader

logger = logging.getLogger("tradewind.triggerer")

#: Seconds before a trigger that ended is run again (a trigger that ends at once would spin).
RESTART_SECONDS = 1.0
#: The longest wait before a failing trigger is run again.
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class WatcherSpec:
    """What to run for one watcher trigger, and which assets it speaks for (logs)."""

    watcher_id: int
    classpath: str
    kwargs_json: str
    description: str = ""
    relative_fileloc: str = ""
    #: The (name, uri) of each asset it watches (its ``asset_state_store``).
    assets: tuple[tuple[str, str], ...] = ()

    @property
    def trigger_id(self) -> int:
        """Negative: the loop watchdog names culprits by this, apart from deferred triggers."""
        return -self.watcher_id


@dataclass(frozen=True)
class WatcherEvent:
    """One event a watcher's trigger yielded."""

    watcher_id: int
    payload_json: str
    event_id: str
    #: The event loop's clock when the trigger yielded it.
    at: float


class WatcherRunner:
    """The asset watchers of one triggerer."""

    def __init__(
        self,
        loader: TriggerLoader,
        state_backend: Callable[[int], AssetStateBackend] | None = None,
    ) -> None:
        self._loader = loader
        #: Builds the asset state backend of a watcher (by its id) for its trigger.
        self._state_backend = state_backend
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.events: asyncio.Queue[WatcherEvent] = asyncio.Queue()

    @property
    def running(self) -> set[int]:
        """The ids of the watchers running now."""
        return set(self._tasks)

    def start(self, spec: WatcherSpec) -> None:
        """Start running a watcher's trigger (again and again, until cancelled)."""
        if spec.watcher_id in self._tasks:
            return
        self._loader.importable(spec.relative_fileloc)
        task = asyncio.create_task(self._watch(spec), name=f"watcher-{spec.watcher_id}")
        self._tasks[spec.watcher_id] = task
        metrics.WATCHERS_RUNNING.set(len(self._tasks))

    def cancel(self, watcher_ids: set[int] | list[int]) -> None:
        """Stop watchers this triggerer no longer holds."""
        for watcher_id in watcher_ids:
            task = self._tasks.get(watcher_id)
            if task is not None:
                task.cancel()

    async def stop(self) -> None:
        """Cancel every watcher and wait for their clean-up."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, spec: WatcherSpec) -> None:
        failures = 0
        try:
            while True:
                if await self._run_one(spec):
                    failures = 0
                    await asyncio.sleep(RESTART_SECONDS)
                else:
                    failures += 1
                    await asyncio.sleep(min(MAX_BACKOFF_SECONDS, RESTART_SECONDS * 2**failures))
        finally:
            self._tasks.pop(spec.watcher_id, None)
            metrics.WATCHERS_RUNNING.set(len(self._tasks))

    async def _run_one(self, spec: WatcherSpec) -> bool:
        """Run the trigger once to its end; whether it ended without failing."""
        loop = asyncio.get_running_loop()
        try:
            async with self._loader.built(
                spec.classpath, spec.kwargs_json, spec.relative_fileloc
            ) as trigger:
                if isinstance(trigger, BaseEventTrigger) and self._state_backend is not None:
                    trigger.asset_state_store = AssetStateStoreAccessors(
                        [Asset(name, uri) for name, uri in spec.assets],
                        backend=self._state_backend(spec.watcher_id),
                    )
                async for event in trigger.run():
                    payload = serde.dumps(event.payload)
                    self.events.put_nowait(
                        WatcherEvent(spec.watcher_id, payload, uuid.uuid4().hex, loop.time())
                    )
                    metrics.WATCHER_EVENTS.inc()
            return True
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a user's trigger: log it and run it again later
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            logger.warning(
                "asset watcher trigger failed; it runs again",
                extra={"trigger_id": spec.trigger_id, "detail": f"{spec.description}: {error}"},
            )
            metrics.TRIGGERS_FAILED.inc()
            return False
