"""TriggererService: trigger leases, events and failures from triggerer replicas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grpc import aio

from protos.run.v1 import message_pb2 as run_pb2
from protos.triggerer.v1 import message_pb2 as triggerer_pb2
from protos.triggerer.v1 import request_response_pb2 as rr
from protos.triggerer.v1 import service_pb2_grpc
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import timestamp, to_seconds
from services.state.clock import utcnow
from services.state.convert import asset_to_proto
from services.state.metrics import ASSET_EVENTS, LEASES
from services.state.servicers.cross_dag import state_count
from services.state.services import StateServices
from services.state.store import asset_state, assets, cross_dag, deferral, watchers
from services.state.validation import identifier, json_value, positive_seconds

#: The most triggers one triggerer may hold.
MAX_CAPACITY = 100_000
#: The longest event id a watcher's event may carry.
MAX_EVENT_ID = 100


def leased_trigger_message(leased: deferral.LeasedTrigger) -> triggerer_pb2.LeasedTrigger:
    """The contract's message of a trigger just leased."""
    ti, trigger = leased.ti, leased.trigger
    return triggerer_pb2.LeasedTrigger(
        trigger_id=trigger.id,
        classpath=trigger.classpath,
        kwargs_json=trigger.kwargs_json,
        task_instance=run_pb2.TaskInstanceKey(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index >= 0 else None,
        ),
        try_number=trigger.try_number,
        created_at=timestamp(trigger.created_at),
        relative_fileloc=leased.relative_fileloc,
    )


def leased_watcher_message(leased: watchers.LeasedWatcher) -> triggerer_pb2.LeasedWatcher:
    """The contract's message of an asset watcher's trigger just leased."""
    return triggerer_pb2.LeasedWatcher(
        watcher_id=leased.watcher.id,
        classpath=leased.watcher.classpath,
        kwargs_json=leased.watcher.kwargs_json,
        assets=[asset_to_proto(a) for a in leased.assets],
        relative_fileloc=leased.relative_fileloc,
    )


def watcher_event(event: triggerer_pb2.WatcherEvent, field: str) -> watchers.WatcherEventReport:
    """The store's view of a watcher's event, refusing a malformed one."""
    if event.watcher_id <= 0:
        raise InvalidArgument(f"{field}.watcher_id", "must be positive")
    if not 0 < len(event.event_id) <= MAX_EVENT_ID:
        raise InvalidArgument(f"{field}.event_id", f"must be 1 to {MAX_EVENT_ID} characters")
    json_value(event.payload_json, f"{field}.payload_json")
    return watchers.WatcherEventReport(event.watcher_id, event.payload_json, event.event_id)


def trigger_outcome(outcome: triggerer_pb2.TriggerOutcome, field: str) -> deferral.TriggerOutcome:
    """The store's view of a trigger's outcome, refusing a malformed one."""
    if outcome.trigger_id <= 0:
        raise InvalidArgument(f"{field}.trigger_id", "must be positive")
    kind = outcome.WhichOneof("result")
    if kind == "event_payload_json":
        json_value(outcome.event_payload_json, f"{field}.event_payload_json")
        return deferral.TriggerOutcome(
            trigger_id=outcome.trigger_id, event_payload_json=outcome.event_payload_json
        )
    if kind == "failure":
        return deferral.TriggerOutcome(
            trigger_id=outcome.trigger_id,
            failure_message=outcome.failure.message,
            failure_traceback=outcome.failure.traceback,
        )
    raise InvalidArgument(f"{field}", "needs event_payload_json or failure")


class TriggererServicer(service_pb2_grpc.TriggererServiceServicer):
    """What triggerer replicas call."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def SyncTriggers(
        self, request: rr.SyncTriggersRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SyncTriggersResponse:
        """Renew the caller's trigger leases and lease free triggers up to its share."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        if not 0 < request.capacity <= MAX_CAPACITY:
            raise InvalidArgument("capacity", f"must be between 1 and {MAX_CAPACITY}")
        seconds = positive_seconds(to_seconds(request, "lease_duration"), "lease_duration")
        for name in ("held_trigger_ids", "held_watcher_ids"):
            if any(i <= 0 for i in getattr(request, name)):
                raise InvalidArgument(name, "must be positive")
        held = list(request.held_trigger_ids)
        held_watchers = list(request.held_watcher_ids)
        now = utcnow()

        def sync(session: Any) -> rr.SyncTriggersResponse:
            result = deferral.sync_triggers(
                session,
                triggerer_id,
                held,
                request.capacity,
                timedelta(seconds=seconds),
                now,
                held_watchers,
            )
            return rr.SyncTriggersResponse(
                leased=[leased_trigger_message(t) for t in result.leased],
                lost_trigger_ids=result.lost,
                lease_expires_at=timestamp(result.expires_at),
                leased_watchers=[leased_watcher_message(w) for w in result.leased_watchers],
                lost_watcher_ids=result.lost_watchers,
            )

        response = await self._services.write(sync, name="sync_triggers")
        LEASES.labels("trigger", "granted").inc(len(response.leased))
        LEASES.labels("trigger", "refused").inc(len(response.lost_trigger_ids))
        LEASES.labels("watcher", "granted").inc(len(response.leased_watchers))
        LEASES.labels("watcher", "refused").inc(len(response.lost_watcher_ids))
        return response

    async def FireTriggers(
        self, request: rr.FireTriggersRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.FireTriggersResponse:
        """Resume the task instances of triggers that fired or failed."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        outcomes = [trigger_outcome(o, f"outcomes[{i}]") for i, o in enumerate(request.outcomes)]
        events = [
            watcher_event(e, f"watcher_events[{i}]") for i, e in enumerate(request.watcher_events)
        ]
        now = utcnow()

        def fire(session: Any) -> tuple[list[int], list[str], int]:
            resumed = deferral.fire_triggers(session, triggerer_id, outcomes, now)
            recorded = watchers.record_watcher_events(
                session, triggerer_id, events, now, multi_team=self._services.multi_team
            )
            return resumed, recorded, assets.events_recorded(session)

        resumed, recorded, asset_events = await self._services.write(fire, name="fire_triggers")
        ASSET_EVENTS.labels(assets.ORIGIN_WATCHER).inc(asset_events)
        return rr.FireTriggersResponse(resumed_trigger_ids=resumed, recorded_event_ids=recorded)

    async def ReleaseTriggers(
        self, request: rr.ReleaseTriggersRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReleaseTriggersResponse:
        """Give trigger leases back."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        ids = list(request.trigger_ids)
        now = utcnow()
        released = await self._services.write(
            lambda s: deferral.release_triggers(s, triggerer_id, ids, now),
            name="release_triggers",
        )
        return rr.ReleaseTriggersResponse(released=released)

    async def AccessWatcherAssetState(
        self, request: rr.AccessWatcherAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.AccessWatcherAssetStateResponse:
        """Read or write the state store of an asset a watcher the caller holds watches."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        if request.watcher_id <= 0:
            raise InvalidArgument("watcher_id", "must be positive")
        name, uri = assets.reference_keys(request.asset)
        if not name and not uri:
            raise InvalidArgument("asset", "give the asset's name or uri")
        operation = request.WhichOneof("operation")
        if operation is None:
            raise InvalidArgument("operation", "give get_key, set, delete_key or clear")
        key = ""
        if operation in ("get_key", "delete_key"):
            key = identifier(getattr(request, operation), operation)
        elif operation == "clear" and not request.clear:
            raise InvalidArgument("clear", "must be true to clear (or give another operation)")
        elif operation == "set":
            key = identifier(request.set.key, "set.key")
            if json_value(request.set.value_json, "set.value_json") is None:
                raise InvalidArgument("set.value_json", "must not be null; delete the key instead")
        now = utcnow()

        def access(session: Any) -> rr.AccessWatcherAssetStateResponse:
            asset = asset_state.watchers_asset(
                session, triggerer_id, request.watcher_id, name=name, uri=uri
            )
            if operation == "get_key":
                row = asset_state.get_asset_state(session, asset, key)
                if row is None:
                    return rr.AccessWatcherAssetStateResponse(found=False)
                return rr.AccessWatcherAssetStateResponse(found=True, value_json=row.value_json)
            if operation == "set":
                asset_state.set_asset_state(
                    session,
                    asset,
                    key,
                    request.set.value_json,
                    now,
                    writer=asset_state.WRITER_WATCHER,
                )
                return rr.AccessWatcherAssetStateResponse()
            deleted = asset_state.delete_asset_state(
                session, asset, key if operation == "delete_key" else None
            )
            return rr.AccessWatcherAssetStateResponse(deleted=deleted)

        if operation == "get_key":
            return await self._services.read(access, name="get_watcher_asset_state")
        return await self._services.write(access, name="write_watcher_asset_state")

    async def CountStates(
        self, request: rr.CountStatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.CountStatesResponse:
        """Count another DAG's runs or task instances in given states."""
        query = state_count(request.query, "query")
        count = await self._services.read(
            lambda s: cross_dag.count_states(s, query), name="count_states"
        )
        return rr.CountStatesResponse(count=count)
