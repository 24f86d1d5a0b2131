"""The asset state store as an asset watcher's trigger reaches it: through the triggerer.

A trigger's code calls ``self.asset_state_store[asset].get(...)`` synchronously (as in
Airflow), so the calls go over a blocking channel; each is one short unary call to the state
service, which checks that this replica holds the watcher and that it watches the asset.
"""

from __future__ import annotations

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.triggerer.v1 import request_response_pb2 as rr
from protos.triggerer.v1 import service_pb2_grpc as triggerer_grpc
from tradewind.sdk.asset_state import asset_state_errors
from tradewind.sdk.assets import AssetNameRef, AssetUriRef

#: Seconds one call may take.
CALL_TIMEOUT = 10.0


class WatcherAssetState:
    """The asset state backend of one watcher's trigger (see ``AssetStateBackend``)."""

    def __init__(
        self, stub: triggerer_grpc.TriggererServiceStub, triggerer_id: str, watcher_id: int
    ) -> None:
        self._stub = stub
        self._triggerer_id = triggerer_id
        self._watcher_id = watcher_id

    def _call(
        self, ref: AssetNameRef | AssetUriRef, **operation: object
    ) -> rr.AccessWatcherAssetStateResponse:
        asset = (
            dag_pb2.AssetReference(name=ref.name)
            if isinstance(ref, AssetNameRef)
            else dag_pb2.AssetReference(uri=ref.uri)
        )
        request = rr.AccessWatcherAssetStateRequest(
            triggerer_id=self._triggerer_id,
            watcher_id=self._watcher_id,
            asset=asset,
            **operation,  # type: ignore[arg-type]
        )
        with asset_state_errors(ref):
            return self._stub.AccessWatcherAssetState(request, timeout=CALL_TIMEOUT)

    def get_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> str | None:
        """The JSON of a key, or None."""
        response = self._call(ref, get_key=key)
        return response.value_json if response.found else None

    def set_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str, value_json: str) -> None:
        """Write a key."""
        self._call(ref, set=rr.WatcherAssetStateWrite(key=key, value_json=value_json))

    def delete_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> bool:
        """Delete a key."""
        return self._call(ref, delete_key=key).deleted > 0

    def clear_asset_state(self, ref: AssetNameRef | AssetUriRef) -> int:
        """Delete every key."""
        return int(self._call(ref, clear=True).deleted)
