"""TaskService, the asset state store part: keys of the assets a task declares."""

from __future__ import annotations

from typing import Any

from grpc import aio

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.task.v1 import request_response_pb2 as rr
from services.runtime.errors import InvalidArgument
from services.state.clock import utcnow
from services.state.servicers.caller import caller_lease
from services.state.services import StateServices
from services.state.store import asset_state, assets
from services.state.validation import identifier, json_value


def _reference(reference: dag_pb2.AssetReference) -> tuple[str, str]:
    name, uri = assets.reference_keys(reference)
    if not name and not uri:
        raise InvalidArgument("asset", "give the asset's name or uri")
    return name, uri


class AssetStateMethods:
    """Get/Set/Delete/ClearAssetState (mixed into TaskServicer)."""

    _services: StateServices

    async def GetAssetState(
        self, request: rr.GetAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetAssetStateResponse:
        """Read a key of an asset the caller's task declares."""
        lease = caller_lease(request.caller, context)
        name, uri = _reference(request.asset)
        key = identifier(request.key, "key")
        now = utcnow()

        def read(session: Any) -> str | None:
            _, asset = asset_state.callers_asset(session, lease, now, name=name, uri=uri)
            row = asset_state.get_asset_state(session, asset, key)
            return row.value_json if row is not None else None

        value = await self._services.read(read, name="get_asset_state")
        if value is None:
            return rr.GetAssetStateResponse(found=False)
        return rr.GetAssetStateResponse(found=True, value_json=value)

    async def SetAssetState(
        self, request: rr.SetAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetAssetStateResponse:
        """Write a key of an asset the caller's task declares."""
        lease = caller_lease(request.caller, context)
        name, uri = _reference(request.asset)
        key = identifier(request.key, "key")
        if json_value(request.value_json, "value_json") is None:
            raise InvalidArgument("value_json", "must not be null; delete the key instead")
        now = utcnow()

        def write(session: Any) -> None:
            ti, asset = asset_state.callers_asset(session, lease, now, name=name, uri=uri)
            asset_state.set_asset_state(session, asset, key, request.value_json, now, writer=ti)

        await self._services.write(write, name="set_asset_state")
        return rr.SetAssetStateResponse()

    async def DeleteAssetState(
        self, request: rr.DeleteAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteAssetStateResponse:
        """Delete a key of an asset the caller's task declares."""
        lease = caller_lease(request.caller, context)
        name, uri = _reference(request.asset)
        key = identifier(request.key, "key")
        now = utcnow()

        def write(session: Any) -> int:
            _, asset = asset_state.callers_asset(session, lease, now, name=name, uri=uri)
            return asset_state.delete_asset_state(session, asset, key)

        deleted = await self._services.write(write, name="delete_asset_state")
        return rr.DeleteAssetStateResponse(deleted=deleted > 0)

    async def ClearAssetState(
        self, request: rr.ClearAssetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ClearAssetStateResponse:
        """Delete every key of an asset the caller's task declares."""
        lease = caller_lease(request.caller, context)
        name, uri = _reference(request.asset)
        now = utcnow()

        def write(session: Any) -> int:
            _, asset = asset_state.callers_asset(session, lease, now, name=name, uri=uri)
            return asset_state.delete_asset_state(session, asset, None)

        deleted = await self._services.write(write, name="clear_asset_state")
        return rr.ClearAssetStateResponse(deleted=deleted)
