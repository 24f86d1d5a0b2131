"""ApiService, the assets part: the catalogue, events, external events, and the queue."""

from __future__ import annotations

from typing import Any

from grpc import aio

from protos.api.v1 import request_response_pb2 as rr
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import to_datetime
from services.state import metrics
from services.state.clock import utcnow
from services.state.convert import (
    asset_details_to_proto,
    asset_event_to_proto,
    asset_state_entry_to_proto,
    pending_partition_to_proto,
    queued_event_to_proto,
)
from services.state.services import StateServices
from services.state.store import asset_state, assets, partitions
from services.state.validation import check_partition_key, json_object, optional_identifier


def asset_key(request: Any) -> tuple[str, str]:
    """The (name, uri) of a request's ``key`` oneof; INVALID_ARGUMENT when neither is set."""
    which = request.WhichOneof("key")
    if which is None or not getattr(request, which):
        raise InvalidArgument("key", "give the asset's name or uri")
    return (request.name, "") if which == "name" else ("", request.uri)


class AssetsApi:
    """The asset RPCs of ApiService (mixed into ApiServicer)."""

    _services: StateServices

    async def ListAssets(
        self, request: rr.ListAssetsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListAssetsResponse:
        """List assets by name, with their producers, consumers and latest event."""
        dag_id = optional_identifier(request.dag_id, "dag_id")
        search = request.search
        page = self._services.pages.request(
            "ListAssets",
            request.page_size,
            request.page_token,
            {"search": search, "dag_id": dag_id},
        )
        found = await self._services.read(
            lambda s: assets.list_assets(s, page, search=search, dag_id=dag_id).map(
                asset_details_to_proto
            ),
            name="list_assets",
        )
        return rr.ListAssetsResponse(assets=found.items, **self._services.pages.fields(found))

    async def GetAsset(
        self, request: rr.GetAssetRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetAssetResponse:
        """One asset by name or URI. NOT_FOUND when none has it."""
        name, uri = asset_key(request)

        def read(session: Any) -> Any:
            row = assets.find_asset(session, name=name, uri=uri)
            return asset_details_to_proto(assets.asset_details(session, [row])[0])

        return rr.GetAssetResponse(asset=await self._services.read(read, name="get_asset"))

    async def ListAssetEvents(
        self, request: rr.ListAssetEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListAssetEventsResponse:
        """List asset events, newest first."""
        if bool(request.consumed_by_dag_id) != bool(request.consumed_by_run_id):
            raise InvalidArgument(
                "consumed_by_run_id", "consumed_by_dag_id and consumed_by_run_id go together"
            )
        where = assets.EventFilter(
            asset_name=request.asset_name,
            asset_uri=request.asset_uri,
            source_dag_id=request.source_dag_id,
            source_run_id=request.source_run_id,
            consumed_by_dag_id=request.consumed_by_dag_id,
            consumed_by_run_id=request.consumed_by_run_id,
            timestamp_gte=to_datetime(request, "timestamp_gte"),
            before=to_datetime(request, "timestamp_lt"),
        )
        filters = {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in vars(where).items()
        }
        page = self._services.pages.request(
            "ListAssetEvents", request.page_size, request.page_token, filters
        )
        found = await self._services.read(
            lambda s: assets.list_asset_events(s, where, page).map(asset_event_to_proto),
            name="list_asset_events",
        )
        return rr.ListAssetEventsResponse(
            asset_events=found.items, **self._services.pages.fields(found)
        )

    async def CreateAssetEvent(
        self, request: rr.CreateAssetEventRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.CreateAssetEventResponse:
        """Record an event from outside; the DAGs scheduled on the asset are queued."""
        name, uri = asset_key(request)
        extra = json_object(request.extra_json, "extra_json")
        if request.partition_key:
            check_partition_key(request.partition_key, "partition_key")

        def write(session: Any) -> rr.CreateAssetEventResponse:
            recorded = assets.emit_asset_event(
                session,
                name=name,
                uri=uri,
                extra_json=extra,
                now=utcnow(),
                partition_key=request.partition_key,
                multi_team=self._services.multi_team,
            )
            session.flush()
            return rr.CreateAssetEventResponse(
                asset_event=asset_event_to_proto(assets.EventView(recorded.event, recorded.asset)),
                queued_dag_ids=recorded.queued_dag_ids,
            )

        response = await self._services.write(write, name="create_asset_event")
        metrics.ASSET_EVENTS.labels(assets.ORIGIN_API).inc()
        return response

    async def ListQueuedAssetEvents(
        self, request: rr.ListQueuedAssetEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListQueuedAssetEventsResponse:
        """What asset-scheduled DAGs wait on. NOT_FOUND for an unknown dag_id."""
        dag_id = optional_identifier(request.dag_id, "dag_id")

        def read(session: Any) -> rr.ListQueuedAssetEventsResponse:
            if dag_id:
                assets.require_dag(session, dag_id)
            found = assets.queued_events(session, [dag_id] if dag_id else [])
            pending = (
                partitions.pending_partitions(session, [dag_id] if dag_id else [])
                if request.include_pending_partitions
                else {}
            )
            return rr.ListQueuedAssetEventsResponse(
                queued_asset_events=[
                    queued_event_to_proto(q) for dag in sorted(found) for q in found[dag]
                ],
                pending_partitions=[
                    pending_partition_to_proto(p) for dag in sorted(pending) for p in pending[dag]
                ],
            )

        return await self._services.read(read, name="list_queued_asset_events")

    async def ListAssetState(
        self, request: rr.ListAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListAssetStateResponse:
        """Every key of an asset's state store. NOT_FOUND when no asset has the name or URI."""
        name, uri = asset_key(request)

        def read(session: Any) -> list[Any]:
            row = assets.find_asset(session, name=name, uri=uri)
            return [
                asset_state_entry_to_proto(e) for e in asset_state.list_asset_state(session, row)
            ]

        return rr.ListAssetStateResponse(
            entries=await self._services.read(read, name="list_asset_state")
        )

    async def ClearAssetState(
        self, request: rr.ClearAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ClearAssetStateResponse:
        """Delete a key of an asset's state store, or every key."""
        name, uri = asset_key(request)
        state_key = optional_identifier(request.state_key, "state_key") or None

        def write(session: Any) -> int:
            row = assets.find_asset(session, name=name, uri=uri)
            return asset_state.delete_asset_state(session, row, state_key)

        deleted = await self._services.write(write, name="clear_asset_state")
        return rr.ClearAssetStateResponse(deleted=deleted)
