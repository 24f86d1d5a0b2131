"""TaskService, the assets part: inlet events, the run's triggering events, asset references."""

from __future__ import annotations

from typing import Any

from grpc import aio

from protos.task.v1 import request_response_pb2 as rr
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import to_datetime
from services.state.clock import utcnow
from services.state.convert import asset_event_to_proto, asset_to_proto
from services.state.servicers.caller import caller_lease
from services.state.services import StateServices
from services.state.store import assets, execution


def _event_filter(request: rr.ListTaskAssetEventsRequest) -> assets.EventFilter:
    source = request.WhichOneof("source")
    after = to_datetime(request, "after")
    before = to_datetime(request, "before")
    if source == "asset" and request.asset.name and request.asset.uri:
        return assets.EventFilter(
            asset_name=request.asset.name, asset_uri=request.asset.uri, after=after, before=before
        )
    if source == "reference" and (request.reference.name or request.reference.uri):
        name, uri = assets.reference_keys(request.reference)
        return assets.EventFilter(asset_name=name, asset_uri=uri, after=after, before=before)
    if source == "alias_name" and request.alias_name:
        return assets.EventFilter(alias_name=request.alias_name, after=after, before=before)
    raise InvalidArgument("source", "give an asset (name and uri), a reference or an alias name")


class AssetMethods:
    """The asset RPCs of TaskService (mixed into TaskServicer)."""

    _services: StateServices

    async def ListTaskAssetEvents(
        self, request: rr.ListTaskAssetEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListTaskAssetEventsResponse:
        """Events of an asset or alias, for a running try's inlet_events."""
        lease = caller_lease(request.caller, context)
        if request.limit < 0:
            raise InvalidArgument("limit", "must not be negative")
        where = _event_filter(request)
        now = utcnow()

        def read(session: Any) -> list[Any]:
            execution.verify_caller(session, lease, now)
            if where.asset_name or where.asset_uri:
                assets.find_asset(session, name=where.asset_name, uri=where.asset_uri)
            found = assets.read_asset_events(
                session, where, descending=request.descending, limit=request.limit
            )
            return [asset_event_to_proto(view) for view in found]

        events = await self._services.read(read, name="list_task_asset_events")
        return rr.ListTaskAssetEventsResponse(asset_events=events)

    async def GetTriggeringAssetEvents(
        self, request: rr.GetTriggeringAssetEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetTriggeringAssetEventsResponse:
        """The events that triggered the caller's run."""
        lease = caller_lease(request.caller, context)
        now = utcnow()

        def read(session: Any) -> list[Any]:
            ti = execution.verify_caller(session, lease, now)
            return [
                asset_event_to_proto(v) for v in assets.triggering_events(session, ti.dag_run_id)
            ]

        events = await self._services.read(read, name="get_triggering_asset_events")
        return rr.GetTriggeringAssetEventsResponse(asset_events=events)

    async def ResolveAsset(
        self, request: rr.ResolveAssetRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ResolveAssetResponse:
        """The asset an Asset.ref names."""
        lease = caller_lease(request.caller, context)
        name, uri = assets.reference_keys(request.reference)
        if not name and not uri:
            raise InvalidArgument("reference", "give the asset's name or uri")
        now = utcnow()

        def read(session: Any) -> Any:
            execution.verify_caller(session, lease, now)
            return asset_to_proto(assets.resolve_reference(session, name=name, uri=uri))

        return rr.ResolveAssetResponse(asset=await self._services.read(read, name="resolve_asset"))
