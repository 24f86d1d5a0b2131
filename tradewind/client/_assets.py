"""Client methods for assets: the catalogue, their events, events from outside, the queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from protos.api.v1 import request_response_pb2 as rr
from tradewind.client._base import PAGE_SIZE, ClientBase
from tradewind.client._models import (
    AssetDetails,
    AssetEvent,
    EmittedAssetEvent,
    QueuedAssetEvent,
)


def _key(name: str, uri: str) -> dict[str, str]:
    if bool(name) == bool(uri):
        raise ValueError("give the asset's name or its uri (exactly one)")
    return {"name": name} if name else {"uri": uri}


class AssetMethods(ClientBase):
    """Assets and their events."""

    def assets(
        self, *, search: str = "", dag_id: str = "", page_size: int = PAGE_SIZE
    ) -> AsyncIterator[AssetDetails]:
        """Iterate over assets by name, with their producers, consumers and latest event.

        Args:
            search: only assets whose name or URI contains this (case-insensitive).
            dag_id: only the assets this DAG names (schedule, outlets, inlets).
            page_size: assets per request.

        Returns:
            An async iterator of :class:`AssetDetails`.

        Raises:
            NotFoundError: no such DAG.

        """
        return self._pages(
            self._stub.ListAssets,
            rr.ListAssetsRequest(page_size=page_size, search=search, dag_id=dag_id),
            lambda r: r.assets,
            AssetDetails.from_proto,
        )

    async def get_asset(self, *, name: str = "", uri: str = "") -> AssetDetails:
        """One asset, by name or by URI.

        Args:
            name: the asset's name.
            uri: or its URI.

        Returns:
            The asset with its producers, consumers and latest event.

        Raises:
            ValueError: neither or both given.
            NotFoundError: no asset has it.

        """
        response = await self._call(self._stub.GetAsset, rr.GetAssetRequest(**_key(name, uri)))
        return AssetDetails.from_proto(response.asset)

    def asset_events(
        self,
        *,
        asset_name: str = "",
        asset_uri: str = "",
        source_dag_id: str = "",
        source_run_id: str = "",
        consumed_by: tuple[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[AssetEvent]:
        """Iterate over asset events, newest first.

        Args:
            asset_name: only the events of the asset with this name.
            asset_uri: only the events of the asset with this URI.
            source_dag_id: only events produced by this DAG.
            source_run_id: only events produced by this run (with ``source_dag_id``).
            consumed_by: only the events that triggered this run, as (dag_id, run_id).
            since: only events recorded at or after this time (aware).
            until: only events recorded before this time (aware).
            page_size: events per request.

        Returns:
            An async iterator of :class:`AssetEvent`.

        """
        request = rr.ListAssetEventsRequest(
            page_size=page_size,
            asset_name=asset_name,
            asset_uri=asset_uri,
            source_dag_id=source_dag_id,
            source_run_id=source_run_id,
        )
        if consumed_by is not None:
            request.consumed_by_dag_id, request.consumed_by_run_id = consumed_by
        if since is not None:
            request.timestamp_gte.FromDatetime(since)
        if until is not None:
            request.timestamp_lt.FromDatetime(until)
        return self._pages(
            self._stub.ListAssetEvents, request, lambda r: r.asset_events, AssetEvent.from_proto
        )

    async def emit_asset_event(
        self, *, name: str = "", uri: str = "", extra: Mapping[str, Any] | None = None
    ) -> EmittedAssetEvent:
        """Record an asset event from outside: the DAGs scheduled on the asset are queued.

        Args:
            name: the asset's name.
            uri: or its URI.
            extra: the event's extra (JSON-encodable).

        Returns:
            The event and the DAGs it queued.

        Raises:
            ValueError: neither or both of name and uri given.
            NotFoundError: no DAG names the asset.

        """
        request = rr.CreateAssetEventRequest(
            **_key(name, uri), extra_json=json.dumps(dict(extra or {}))
        )
        response = await self._call(self._stub.CreateAssetEvent, request)
        return EmittedAssetEvent(
            event=AssetEvent.from_proto(response.asset_event),
            queued_dag_ids=list(response.queued_dag_ids),
        )

    async def queued_asset_events(self, dag_id: str = "") -> list[QueuedAssetEvent]:
        """The asset events DAGs scheduled on assets wait on.

        Args:
            dag_id: only this DAG's; empty for every DAG.

        Returns:
            One per (DAG, asset) with an event since the DAG's last asset-triggered run.

        Raises:
            NotFoundError: no such DAG.

        """
        response = await self._call(
            self._stub.ListQueuedAssetEvents, rr.ListQueuedAssetEventsRequest(dag_id=dag_id)
        )
        return [QueuedAssetEvent.from_proto(q) for q in response.queued_asset_events]
