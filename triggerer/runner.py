"""Runs triggers as asyncio tasks and collects their outcomes; knows nothing of gRPC.

Each trigger runs in its own task until its first event, its failure, or its cancellation
(its lease was lost, its task instance moved on, the triggerer stops); ``cleanup()`` runs in
every case. Outcomes wait in a queue for the service to report them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from tradewind.sdk import serde
from tradewind.sdk.loader import load_dags_from_file, module_name_for
from tradewind.sdk.triggers.base import BaseTrigger, load_trigger
from triggerer import metrics

logger = logging.getLogger("tradewind.triggerer")

#: The name of the coroutine that runs one trigger; the watchdog looks for its frames.
RUN_ONE = "_run_one"


@dataclass(frozen=True)
class TriggerSpec:
    """What to run: the trigger's id, class, kwargs, and what it is for (logs)."""

    trigger_id: int
    classpath: str
    kwargs_json: str
    description: str = ""
    relative_fileloc: str = ""


@dataclass(frozen=True)
class Outcome:
    """A trigger's first event (its payload as JSON) or its failure."""

    trigger_id: int
    payload_json: str | None = None
    failure_message: str = ""
    failure_traceback: str = ""
    #: The event loop's clock when the trigger fired.
    at: float = 0.0


class TriggerBlocked(Exception):
    """Raised into a trigger that held the event loop past the limit."""


class TriggerLoader:
    """Builds triggers from their class path and kwargs, as the task process would."""

    def __init__(self, dags_folder: Path | None = None) -> None:
        self._dags_folder = dags_folder

    def load(self, classpath: str, kwargs_json: str, relative_fileloc: str) -> BaseTrigger:
        """Build the trigger; one defined in its DAG file loads that file first."""
        module = classpath.rpartition(".")[0]
        if (
            self._dags_folder is not None
            and relative_fileloc
            and module == module_name_for(relative_fileloc)
            and module not in sys.modules
        ):
            path = self._dags_folder / relative_fileloc
            loaded = load_dags_from_file(path, dags_folder=self._dags_folder)
            if loaded.error is not None:
                raise ImportError(f"the DAG file {path} failed to import: {loaded.error.message}")
        return load_trigger(classpath, kwargs_json)

    @contextlib.asynccontextmanager
    async def built(
        self, classpath: str, kwargs_json: str, relative_fileloc: str
    ) -> AsyncIterator[BaseTrigger]:
        """The trigger, built off the event loop, cleaned up when the block ends.

        Importing a trigger's module (or its DAG file) may take a while; ``cleanup()`` runs
        whatever ended the block.
        """
        trigger = await asyncio.to_thread(self.load, classpath, kwargs_json, relative_fileloc)
        try:
            yield trigger
        finally:
            try:
                await trigger.cleanup()
            except Exception:
                logger.exception("trigger clean-up failed")

    def importable(self, relative_fileloc: str) -> None:
        """Let triggers defined beside DAGs import, as the task process does (appended)."""
        if self._dags_folder is None:
            return
        for folder in (self._dags_folder, (self._dags_folder / relative_fileloc).parent):
            text = str(folder)
            if text not in sys.path:
                sys.path.append(text)


class TriggerRunner:
    """The triggers of one triggerer."""

    def __init__(self, loader: TriggerLoader) -> None:
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self._loader = loader
        #: Called with a trigger id once it stopped running (for whatever reason).
        self.on_stopped: Callable[[int], None] = lambda trigger_id: None

    @property
    def running(self) -> set[int]:
        """The ids of the triggers running now."""
        return set(self._tasks)

    def start(self, spec: TriggerSpec) -> None:
        """Build and start a trigger (a failure to build is its outcome)."""
        if spec.trigger_id in self._tasks:
            return
        self._loader.importable(spec.relative_fileloc)
        task = asyncio.create_task(self._run_one(spec), name=f"trigger-{spec.trigger_id}")
        self._tasks[spec.trigger_id] = task
        metrics.TRIGGERS_RUNNING.set(len(self._tasks))

    def cancel(self, trigger_ids: set[int] | list[int]) -> None:
        """Stop triggers whose outcome is no longer wanted."""
        for trigger_id in trigger_ids:
            task = self._tasks.get(trigger_id)
            if task is not None:
                task.cancel()

    async def stop(self) -> None:
        """Cancel every trigger and wait for their clean-up."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_one(self, spec: TriggerSpec) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with self._loader.built(
                spec.classpath, spec.kwargs_json, spec.relative_fileloc
            ) as trigger:
                trigger.trigger_id = spec.trigger_id
                trigger.task_instance = spec.description
                async for event in trigger.run():
                    payload = serde.dumps(event.payload)
                    self.outcomes.put_nowait(Outcome(spec.trigger_id, payload, at=loop.time()))
                    metrics.TRIGGERS_FIRED.inc()
                    return
            raise RuntimeError("the trigger ended without yielding an event")
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a trigger's failure is its task's to handle
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            logger.warning(
                "trigger failed",
                extra={"trigger_id": spec.trigger_id, "detail": f"{spec.description}: {error}"},
            )
            metrics.TRIGGERS_FAILED.inc()
            self.outcomes.put_nowait(
                Outcome(
                    spec.trigger_id,
                    failure_message=f"{type(error).__name__}: {error}",
                    failure_traceback="".join(traceback.format_exception(error)),
                    at=loop.time(),
                )
            )
        finally:
            self._tasks.pop(spec.trigger_id, None)
            metrics.TRIGGERS_RUNNING.set(len(self._tasks))
            self.on_stopped(spec.trigger_id)
