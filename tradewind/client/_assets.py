"""Client methods for assets: the catalogue, their events, external events and the queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from protos.api.v1 import request_response_pb2 as rr
from tradewind.client._base import PAGE_SIZE, ClientBase
from tradewind.client._models import (
    AssetDetails,
    AssetEvent,
    AssetStateEntry,
    EmittedAssetEvent,
    PendingPartition,
    QueuedAssetEvent,
)
from tradewind.client._runs import object_json, timestamp


def asset_key(name: str, uri: str) -> dict[str, str]:
    """The ``key`` oneof of a request naming one asset.

    Raises:
        ValueError: neither or both of ``name`` and ``uri`` are given.

    """
    if bool(name) == bool(uri):
        raise ValueError("give exactly one of name and uri")
    return {"name": name} if name else {"uri": uri}


def extra_json(extra: Mapping[str, Any] | None) -> str:
    """The JSON text of an event's extra; "" for none (see :func:`object_json`)."""
    return object_json(extra, "extra")


class AssetMethods(ClientBase):
    """Assets, their events, events recorded from outside, and what asset schedules wait on."""

    def assets(
        self, *, search: str = "", dag_id: str = "", page_size: int = PAGE_SIZE
    ) -> AsyncIterator[AssetDetails]:
        """Iterate over assets by name, with their producers, consumers and latest event.

        Args:
            search: only assets whose name or URI contains this (case-insensitive).
            dag_id: only assets this DAG names (schedule, outlets, inlets); empty for all.
            page_size: assets per request.

        Returns:
            An async iterator of :class:`AssetDetails`.

        Raises:
            InvalidArgumentError: a malformed DAG id.

        """
        return self._pages(
            self._stub.ListAssets,
            rr.ListAssetsRequest(page_size=page_size, search=search, dag_id=dag_id),
            lambda r: r.assets,
            AssetDetails.from_proto,
        )

    async def get_asset(self, *, name: str = "", uri: str = "") -> AssetDetails:
        """Describe one asset, found by its name or by its URI.

        Args:
            name: the asset's name.
            uri: the asset's URI (instead of ``name``).

        Returns:
            The asset with its producers, consumers and latest event.

        Raises:
            ValueError: neither or both of ``name`` and ``uri``.
            NotFoundError: no asset has that name or URI.

        """
        response = await self._call(self._stub.GetAsset, rr.GetAssetRequest(**asset_key(name, uri)))
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
            asset_name: only events of the asset with this name.
            asset_uri: only events of the asset with this URI.
            source_dag_id: only events produced by tasks of this DAG.
            source_run_id: only events produced in this run.
            consumed_by: only the events this run, ``(dag_id, run_id)``, was triggered by.
            since: only events recorded at or after this (an aware datetime).
            until: only events recorded before this (an aware datetime).
            page_size: events per request.

        Returns:
            An async iterator of :class:`AssetEvent`.

        Raises:
            ValueError: ``consumed_by`` without both ids; a naive ``since`` or ``until``.

        """
        request = rr.ListAssetEventsRequest(
            page_size=page_size,
            asset_name=asset_name,
            asset_uri=asset_uri,
            source_dag_id=source_dag_id,
            source_run_id=source_run_id,
        )
        if consumed_by is not None:
            dag_id, run_id = consumed_by
            if not dag_id or not run_id:
                raise ValueError("consumed_by must be (dag_id, run_id), both given")
            request.consumed_by_dag_id = dag_id
            request.consumed_by_run_id = run_id
        if since is not None:
            request.timestamp_gte.CopyFrom(timestamp(since, "since"))
        if until is not None:
            request.timestamp_lt.CopyFrom(timestamp(until, "until"))
        return self._pages(
            self._stub.ListAssetEvents,
            request,
            lambda r: r.asset_events,
            AssetEvent.from_proto,
        )

    async def emit_asset_event(
        self,
        *,
        name: str = "",
        uri: str = "",
        extra: Mapping[str, Any] | None = None,
        partition_key: str = "",
    ) -> EmittedAssetEvent:
        """Record an event of an asset from outside (e.g. an upstream system finished writing).

        The DAGs scheduled on the asset are queued as for a task's event. The call is not
        retried automatically: a retry could record the event twice.

        Args:
            name: the asset's name.
            uri: the asset's URI (instead of ``name``).
            extra: the event's extra, a JSON object; None for ``{}``.
            partition_key: the partition it updates (partitioned consumers only take events
                with one, the others only events without).

        Returns:
            The event recorded and the DAGs it queued.

        Raises:
            ValueError: neither or both of ``name`` and ``uri``; ``extra`` not a dict or not
                JSON-encodable.
            NotFoundError: no DAG names such an asset.

        """
        request = rr.CreateAssetEventRequest(
            **asset_key(name, uri), extra_json=extra_json(extra), partition_key=partition_key
        )
        response = await self._call(self._stub.CreateAssetEvent, request)
        return EmittedAssetEvent(
            event=AssetEvent.from_proto(response.asset_event),
            queued_dag_ids=tuple(response.queued_dag_ids),
        )

    async def queued_asset_events(self, dag_id: str = "") -> list[QueuedAssetEvent]:
        """The asset events queued for DAGs scheduled on assets: what each DAG waits with.

        Args:
            dag_id: only what this DAG has queued; empty for every DAG.

        Returns:
            The queued events, by DAG.

        Raises:
            NotFoundError: no such DAG.

        """
        response = await self._call(
            self._stub.ListQueuedAssetEvents, rr.ListQueuedAssetEventsRequest(dag_id=dag_id)
        )
        return [QueuedAssetEvent.from_proto(q) for q in response.queued_asset_events]

    async def pending_partitions(self, dag_id: str = "") -> list[PendingPartition]:
        """The partitions of partitioned consumers that received events and wait for a run.

        Args:
            dag_id: only this DAG's; empty for every DAG's.

        Returns:
            The pending partitions (the oldest 2,000), by DAG, oldest first, each with the
            events it received.

        Raises:
            NotFoundError: no such DAG.

        """
        response = await self._call(
            self._stub.ListQueuedAssetEvents,
            rr.ListQueuedAssetEventsRequest(dag_id=dag_id, include_pending_partitions=True),
        )
        return [PendingPartition.from_proto(p) for p in response.pending_partitions]

    async def asset_state(self, *, name: str = "", uri: str = "") -> list[AssetStateEntry]:
        """Every key of an asset's state store, by key.

        Args:
            name: the asset's name.
            uri: the asset's URI (instead of ``name``).

        Raises:
            ValueError: neither or both of ``name`` and ``uri``.
            NotFoundError: no asset has that name or URI.

        """
        response = await self._call(
            self._stub.ListAssetState, rr.ListAssetStateRequest(**asset_key(name, uri))
        )
        return [AssetStateEntry.from_proto(e) for e in response.entries]

    async def clear_asset_state(self, *, name: str = "", uri: str = "", key: str = "") -> int:
        """Delete one key of an asset's state store, or every key (an operator's reset).

        Args:
            name: the asset's name.
            uri: the asset's URI (instead of ``name``).
            key: the key to delete; empty for every key.

        Returns:
            How many keys were deleted.

        Raises:
            ValueError: neither or both of ``name`` and ``uri``.
            NotFoundError: no asset has that name or URI.

        """
        request = rr.ClearAssetStateRequest(**asset_key(name, uri), state_key=key)
        response = await self._call(self._stub.ClearAssetState, request)
        return int(response.deleted)
