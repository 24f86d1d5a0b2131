"""EventService: the change feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from protos.event.v1 import request_response_pb2 as rr
from protos.event.v1 import service_pb2_grpc
from services.state.events import EventFilter, feed_bounds
from services.state.services import StateServices


class EventServicer(service_pb2_grpc.EventServiceServicer):
    """Streams committed changes to subscribers, resumable from a cursor."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def WatchEvents(
        self, request: rr.WatchEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[rr.WatchEventsResponse]:
        """Stream events after the cursor until the caller goes away or the service stops."""
        after = request.after_cursor if request.HasField("after_cursor") else None
        event_filter = EventFilter(
            types=frozenset(request.types),
            dag_ids=frozenset(request.dag_ids),
            queues=frozenset(request.queues),
        )
        batches = self._services.hub.subscribe(after, event_filter)
        stopping = asyncio.ensure_future(self._services.shutting_down.wait())
        next_batch: asyncio.Future[Any] | None = None
        try:
            while True:
                next_batch = asyncio.ensure_future(anext(batches))
                done, _ = await asyncio.wait(
                    {next_batch, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if next_batch not in done:
                    return
                events, latest = next_batch.result()
                next_batch = None
                yield rr.WatchEventsResponse(events=events, latest_cursor=latest)
        finally:
            # The caller went away or the service stops: the pending read must end before the
            # subscription can be closed.
            stopping.cancel()
            if next_batch is not None and not next_batch.done():
                next_batch.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_batch
            await batches.aclose()

    async def GetLatestCursor(
        self, request: rr.GetLatestCursorRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetLatestCursorResponse:
        """The newest and oldest cursors of the feed."""
        oldest, latest = await feed_bounds(self._services.db)
        return rr.GetLatestCursorResponse(cursor=latest, oldest_cursor=oldest)
