"""The triggerer service: leases triggers, runs them, reports their events.

Three loops: the sync loop renews the replica's trigger leases and takes new triggers (every
third of the lease, and at once when a task instance defers or another triggerer gives
triggers back); the watch loop follows the state service's events to know when to sync; the
report loop sends triggers' outcomes in batches, retrying until the state service has them.
Triggers run in :class:`~triggerer.runner.TriggerRunner`; a watchdog reports (and past a
limit interrupts) a trigger that blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from grpc import aio

from protos.enums.v1 import event_pb2, task_instance_pb2
from protos.event.v1 import request_response_pb2 as event_rr
from protos.event.v1 import service_pb2 as event_service
from protos.event.v1 import service_pb2_grpc as event_grpc
from protos.triggerer.v1 import message_pb2 as triggerer_pb2
from protos.triggerer.v1 import request_response_pb2 as rr
from protos.triggerer.v1 import service_pb2 as triggerer_service
from protos.triggerer.v1 import service_pb2_grpc as triggerer_grpc
from services.runtime.loops import run_guarded
from services.runtime.protoconv import duration
from services.runtime.server import GrpcService, RuntimeContext, ServerConfig
from tradewind.sdk.other_dags import StateQuery, install_trigger_state_reader, query_message
from tradewind_common import config as cfg
from tradewind_common.channels import ChannelConfig, create_blocking_channel, create_channel
from triggerer import metrics
from triggerer.asset_state import WatcherAssetState
from triggerer.runner import Outcome, TriggerLoader, TriggerRunner, TriggerSpec
from triggerer.settings import BLOCKED_LIMIT, BLOCKED_THRESHOLD, CAPACITY, LEASE_DURATION, STATE
from triggerer.watchdog import LoopWatchdog
from triggerer.watchers import WatcherEvent, WatcherRunner, WatcherSpec

logger = logging.getLogger("tradewind.triggerer")

DEFERRED = task_instance_pb2.TASK_INSTANCE_STATE_DEFERRED
#: Outcomes sent per FireTriggers call.
REPORT_BATCH = 500
RETRY_SECONDS = 0.5


class GrpcStateReader:
    """Counts other DAGs' states for triggers, through TriggererService.CountStates."""

    def __init__(self, stub: triggerer_grpc.TriggererServiceAsyncStub) -> None:
        self._stub = stub

    async def count_states(self, query: StateQuery) -> int:
        """How many runs or task instances match ``query``."""
        message = query_message(query)
        response = await self._stub.CountStates(rr.CountStatesRequest(query=message), timeout=30)
        return int(response.count)


class TriggererApp:
    """A triggerer replica: any number of them share the triggers through leases."""

    service_name = "triggerer"

    def __init__(self, config: ServerConfig, values: cfg.Settings) -> None:
        self._state: ChannelConfig = STATE.config(values)
        self._capacity = values[CAPACITY]
        self._lease_duration = values[LEASE_DURATION]
        loader = TriggerLoader(values[cfg.DAGS_FOLDER].expanduser().resolve())
        self._runner = TriggerRunner(loader)
        self._watchers = WatcherRunner(loader, self._watcher_state)
        self._blocking: grpc.Channel | None = None
        #: When a sync last renewed this replica's leases (the loop's clock).
        self._renewed = 0.0
        #: Asset watchers leased to this replica.
        self._held_watchers: set[int] = set()
        self._watchdog = LoopWatchdog(values[BLOCKED_THRESHOLD], values[BLOCKED_LIMIT])
        self.triggerer_id = ""
        #: Triggers leased to this replica whose outcome is not reported yet.
        self._held: set[int] = set()
        self._sync_now = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: aio.Channel | None = None

    def grpc_services(self) -> Sequence[GrpcService]:
        """The triggerer serves only health, reflection and server info."""
        return ()

    async def start(self, context: RuntimeContext) -> None:
        """Connect to the state service and start the loops."""
        self.triggerer_id = context.identity.instance_id
        self._channel = create_channel(
            self._state,
            [
                triggerer_service.DESCRIPTOR.services_by_name["TriggererService"],
                event_service.DESCRIPTOR.services_by_name["EventService"],
            ],
        )
        self._triggerer = triggerer_grpc.TriggererServiceStub(self._channel)
        self._events = event_grpc.EventServiceStub(self._channel)
        install_trigger_state_reader(GrpcStateReader(self._triggerer))
        self._blocking = create_blocking_channel(
            self._state, [triggerer_service.DESCRIPTOR.services_by_name["TriggererService"]]
        )
        self._watchdog.start()
        self._renewed = asyncio.get_running_loop().time()
        for loop in (self._sync_loop, self._watch_loop, self._report_loop, self._lease_guard):
            guarded = run_guarded(loop, logger=logger)
            self._tasks.append(asyncio.create_task(guarded, name=loop.__name__))

    async def stop(self, grace_seconds: float) -> None:
        """Stop the triggers and give their leases back, so other replicas take them at once."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._runner.stop()
        await self._watchers.stop()
        await self._watchdog.stop()
        install_trigger_state_reader(None)
        if self._channel is not None:
            with contextlib.suppress(grpc.RpcError):
                await self._report(rpc_timeout=min(5.0, grace_seconds or 5.0))
            with contextlib.suppress(grpc.RpcError):
                await self._triggerer.ReleaseTriggers(
                    rr.ReleaseTriggersRequest(triggerer_id=self.triggerer_id),
                    timeout=min(5.0, grace_seconds or 5.0),
                )
            await self._channel.close(None)
        if self._blocking is not None:
            self._blocking.close()

    def _watcher_state(self, watcher_id: int) -> WatcherAssetState:
        assert self._blocking is not None, "started"
        stub = triggerer_grpc.TriggererServiceStub(self._blocking)
        return WatcherAssetState(stub, self.triggerer_id, watcher_id)

    # ---- loops ----

    async def _sync_loop(self) -> None:
        while True:
            self._sync_now.clear()
            response = await self._triggerer.SyncTriggers(
                rr.SyncTriggersRequest(
                    triggerer_id=self.triggerer_id,
                    held_trigger_ids=sorted(self._held),
                    capacity=self._capacity,
                    lease_duration=duration(self._lease_duration),
                    held_watcher_ids=sorted(self._held_watchers),
                ),
                timeout=self._lease_duration / 3,
            )
            self._renewed = asyncio.get_running_loop().time()
            lost = set(response.lost_trigger_ids)
            self._held -= lost
            self._runner.cancel(lost)
            for leased in response.leased:
                self._held.add(leased.trigger_id)
                self._runner.start(_spec(leased))
            metrics.TRIGGERS_LEASED.set(len(self._held))
            lost_watchers = set(response.lost_watcher_ids)
            self._held_watchers -= lost_watchers
            self._watchers.cancel(lost_watchers)
            for watcher in response.leased_watchers:
                self._held_watchers.add(watcher.watcher_id)
                self._watchers.start(_watcher_spec(watcher))
            metrics.WATCHERS_LEASED.set(len(self._held_watchers))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sync_now.wait(), self._lease_duration / 3)

    async def _lease_guard(self) -> None:
        """Stop the asset watchers once their leases have lapsed unrenewed.

        The state service was out of reach: another replica may hold them now, and two would
        take the same files.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._lease_duration / 3)
            if self._held_watchers and loop.time() - self._renewed > self._lease_duration:
                logger.warning(
                    "leases lapsed without renewal; stopping the asset watchers",
                    extra={"action": "lease", "detail": f"{len(self._held_watchers)} watchers"},
                )
                self._watchers.cancel(self._held_watchers)
                self._held_watchers.clear()
                metrics.WATCHERS_LEASED.set(0)

    async def _watch_loop(self) -> None:
        cursor: int | None = None
        types = [
            event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED,
            event_pb2.EVENT_TYPE_TRIGGER_LEASES_RELEASED,
            # The asset watchers to run follow the DAGs: their versions, pausing, removal.
            event_pb2.EVENT_TYPE_DAG_UPDATED,
            event_pb2.EVENT_TYPE_DAG_PAUSED_CHANGED,
            event_pb2.EVENT_TYPE_DAG_DEACTIVATED,
        ]
        while True:
            request = event_rr.WatchEventsRequest(types=types)
            if cursor is not None:
                request.after_cursor = cursor
            try:
                async for batch in self._events.WatchEvents(request):
                    if any(self._wants_sync(event) for event in batch.events):
                        self._sync_now.set()
                    cursor = batch.latest_cursor or cursor
            except aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.OUT_OF_RANGE:
                    cursor = None
                    self._sync_now.set()
                    continue
                raise

    def _wants_sync(self, event: Any) -> bool:
        if event.type != event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED:
            return True
        # A task instance deferred (a new trigger), or left deferred (cleared, marked, timed
        # out: its trigger is gone and the sync says so).
        return DEFERRED in (event.task_instance_state, event.previous_task_instance_state)

    async def _report_loop(self) -> None:
        while True:
            await self._reports_waiting()
            try:
                await self._report(rpc_timeout=30)
            except grpc.RpcError:
                await asyncio.sleep(RETRY_SECONDS)
                raise

    async def _reports_waiting(self) -> None:
        """Return once a trigger's outcome or a watcher's event waits to be reported."""
        queues: list[asyncio.Queue[Any]] = [self._runner.outcomes, self._watchers.events]
        if any(not queue.empty() for queue in queues):
            return
        waits = [asyncio.ensure_future(_peek(queue)) for queue in queues]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _report(self, *, rpc_timeout: float) -> None:
        """Send every outcome and watcher event waiting.

        The ones not reported stay queued on failure; a watcher event is sent again with its
        id, so it is recorded once.
        """
        queue, events = self._runner.outcomes, self._watchers.events
        while not queue.empty() or not events.empty():
            batch: list[Outcome] = []
            while not queue.empty() and len(batch) < REPORT_BATCH:
                batch.append(queue.get_nowait())
            watched: list[WatcherEvent] = []
            while not events.empty() and len(watched) < REPORT_BATCH:
                watched.append(events.get_nowait())
            try:
                response = await self._triggerer.FireTriggers(
                    rr.FireTriggersRequest(
                        triggerer_id=self.triggerer_id,
                        outcomes=[_outcome_message(o) for o in batch],
                        watcher_events=[_watcher_event_message(e) for e in watched],
                    ),
                    timeout=rpc_timeout,
                )
            except grpc.RpcError:
                for outcome in batch:
                    queue.put_nowait(outcome)
                for event in watched:
                    events.put_nowait(event)
                raise
            now = asyncio.get_running_loop().time()
            for outcome in batch:
                metrics.FIRE_SECONDS.observe(max(0.0, now - outcome.at))
                self._held.discard(outcome.trigger_id)
            metrics.TRIGGERS_LEASED.set(len(self._held))
            recorded = set(response.recorded_event_ids)
            for event in watched:
                if event.event_id not in recorded:
                    logger.warning(
                        "an asset watcher's event was not recorded: the watcher is no longer"
                        " this triggerer's",
                        extra={"trigger_id": -event.watcher_id},
                    )


async def _peek(queue: asyncio.Queue[Any]) -> None:
    """Wait until ``queue`` holds an item, leaving it there."""
    item = await queue.get()
    queue.put_nowait(item)


def _spec(leased: triggerer_pb2.LeasedTrigger) -> TriggerSpec:
    key = leased.task_instance
    index = f"[{key.map_index}]" if key.HasField("map_index") else ""
    return TriggerSpec(
        trigger_id=leased.trigger_id,
        classpath=leased.classpath,
        kwargs_json=leased.kwargs_json,
        description=f"{key.dag_id}/{key.run_id}/{key.task_id}{index} try {leased.try_number}",
        relative_fileloc=leased.relative_fileloc,
    )


def _watcher_spec(leased: triggerer_pb2.LeasedWatcher) -> WatcherSpec:
    assets = ", ".join(a.uri for a in leased.assets)
    return WatcherSpec(
        watcher_id=leased.watcher_id,
        classpath=leased.classpath,
        kwargs_json=leased.kwargs_json,
        description=f"asset watcher of {assets or 'no asset'}",
        relative_fileloc=leased.relative_fileloc,
        assets=tuple((a.name, a.uri) for a in leased.assets),
    )


def _watcher_event_message(event: WatcherEvent) -> triggerer_pb2.WatcherEvent:
    return triggerer_pb2.WatcherEvent(
        watcher_id=event.watcher_id, payload_json=event.payload_json, event_id=event.event_id
    )


def _outcome_message(outcome: Outcome) -> triggerer_pb2.TriggerOutcome:
    if outcome.payload_json is not None:
        return triggerer_pb2.TriggerOutcome(
            trigger_id=outcome.trigger_id, event_payload_json=outcome.payload_json
        )
    return triggerer_pb2.TriggerOutcome(
        trigger_id=outcome.trigger_id,
        failure=triggerer_pb2.TriggerFailure(
            message=outcome.failure_message, traceback=outcome.failure_traceback
        ),
    )


def build_app(config: ServerConfig, values: cfg.Settings) -> TriggererApp:
    """The triggerer app for the shared runtime."""
    cfg.export_parsing_settings(values)
    return TriggererApp(config, values)
