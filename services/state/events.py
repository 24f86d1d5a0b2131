"""The change feed of one state replica: reads committed events once and fans them out.

A single reader task per replica fetches new events when woken (by a local commit, by a
PostgreSQL NOTIFY from another replica, or by a slow safety-net timer), keeps the recent ones
in memory, and wakes every subscriber. Subscribers that resume from an older cursor catch up
from the database first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Collection
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protos.event.v1 import message_pb2 as event_pb2
from services.runtime.errors import OutOfRange, Unavailable
from services.state.convert import event_to_proto
from services.state.db.engine import Database
from services.state.db.event_log import NOTIFY_CHANNEL
from services.state.db.models import Event

logger = logging.getLogger("tradewind.state.events")

#: Events kept in memory for subscribers that are a little behind.
BUFFER_EVENTS = 20_000
#: Events read from the database per query.
READ_BATCH = 2_000
#: The reader checks the database this often even without a wake-up (a lost NOTIFY, say).
SAFETY_POLL_SECONDS = 1.0
#: An idle subscriber gets an empty message with the latest cursor this often.
KEEPALIVE_SECONDS = 15.0

EVENTS_PUBLISHED = Counter(
    "tradewind_events_published_total", "Change events read from the database and fanned out."
)
SUBSCRIBERS = Gauge("tradewind_event_subscribers", "Open WatchEvents streams on this replica.")


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; empty collections mean all."""

    types: Collection[int] = ()
    dag_ids: Collection[str] = ()
    queues: Collection[str] = ()

    def matches(self, event: event_pb2.Event) -> bool:
        """Whether ``event`` passes the filter."""
        if self.types and event.type not in self.types:
            return False
        if self.dag_ids and event.dag_id not in self.dag_ids:
            return False
        return not (self.queues and event.task_id and event.queue not in self.queues)


@dataclass
class EventHub:
    """Reads the event table and wakes subscribers."""

    db: Database
    latest: int = 0
    _buffer: deque[event_pb2.Event] = field(default_factory=lambda: deque(maxlen=BUFFER_EVENTS))
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Learn the current head of the feed and start the reader (and the PG listener)."""
        self._loop = asyncio.get_running_loop()
        self.latest = (await self.db.read(_head, name="event_head"))[1]
        self.db.on_events_committed = self.wake_threadsafe
        self._tasks.append(asyncio.create_task(self._read_loop(), name="event-reader"))
        if not self.db.is_sqlite:
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="event-listener"))

    async def stop(self) -> None:
        """Stop the reader and listener."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def wake_threadsafe(self) -> None:
        """Ask the reader to look for new events (callable from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def _read_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), SAFETY_POLL_SECONDS)
            self._wakeup.clear()
            try:
                await self._read_new()
            except Unavailable as err:
                logger.warning(
                    "cannot read events", extra={"action": "read_events", "error": str(err)}
                )

    async def _read_new(self) -> None:
        while True:
            rows = await self._read_after(self.latest)
            if not rows:
                return
            for event in rows:
                self._buffer.append(event)
            self.latest = rows[-1].cursor
            EVENTS_PUBLISHED.inc(len(rows))
            async with self._changed:
                self._changed.notify_all()
            if len(rows) < READ_BATCH:
                return

    async def _read_after(self, cursor: int) -> list[event_pb2.Event]:
        return await self.db.read(
            lambda s: _events_after(s, cursor, READ_BATCH), name="read_events"
        )

    async def _listen_loop(self) -> None:
        import psycopg  # only the state service uses the driver directly

        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._wakeup.set()  # catch up on anything missed while disconnected
                    async for _ in conn.notifies():
                        self._wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.warning(
                    "event listener lost its connection",
                    extra={"action": "listen", "error": str(err)},
                )
                await asyncio.sleep(1.0)

    async def subscribe(
        self, after_cursor: int | None, event_filter: EventFilter
    ) -> AsyncGenerator[tuple[list[event_pb2.Event], int]]:
        """Yield ``(events, latest_cursor)`` batches after ``after_cursor``, forever.

        ``after_cursor=None`` starts from now. An empty batch is a keepalive.

        Raises:
            OutOfRange: the cursor is older than the retained history.

        """
        cursor = self.latest if after_cursor is None else after_cursor
        if after_cursor:
            oldest = (await self.db.read(_head, name="event_head"))[0]
            if oldest and after_cursor < oldest - 1:
                raise OutOfRange(
                    f"cursor {after_cursor} is older than the retained events (oldest {oldest});"
                    " take a fresh snapshot and watch from GetLatestCursor"
                )
        SUBSCRIBERS.inc()
        try:
            while True:
                batch = await self._next_batch(cursor)
                if batch:
                    cursor = batch[-1].cursor
                    wanted = [e for e in batch if event_filter.matches(e)]
                    if wanted:
                        yield wanted, self.latest
                    continue
                if not await self._wait_for_news(cursor):
                    yield [], self.latest
        finally:
            SUBSCRIBERS.dec()

    async def _next_batch(self, cursor: int) -> list[event_pb2.Event]:
        if cursor >= self.latest:
            return []
        if self._buffer and self._buffer[0].cursor <= cursor + 1:
            return [e for e in self._buffer if e.cursor > cursor][:READ_BATCH]
        # Behind the in-memory window: read from the database.
        return await self.db.read(
            lambda s: _events_after(s, cursor, READ_BATCH), name="catch_up_events"
        )

    async def wait_for(
        self, predicate: Callable[[event_pb2.Event], bool], *, after: int, within: float
    ) -> bool:
        """Wait until an event after cursor ``after`` matches ``predicate``; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        cursor = after
        while True:
            if self.latest > cursor:
                fresh = []
                for event in reversed(self._buffer):
                    if event.cursor <= cursor:
                        break
                    fresh.append(event)
                cursor = self.latest
                if any(predicate(e) for e in fresh):
                    return True
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._wait_for_news(cursor, remaining):
                return False

    async def _wait_for_news(self, cursor: int, within: float = KEEPALIVE_SECONDS) -> bool:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.latest > cursor), within)
            except TimeoutError:
                return False
        return True


def _head(session: Session) -> tuple[int, int]:
    oldest, latest = session.execute(select(func.min(Event.id), func.max(Event.id))).one()
    return int(oldest or 0), int(latest or 0)


def _events_after(session: Session, cursor: int, limit: int) -> list[event_pb2.Event]:
    rows = session.scalars(select(Event).where(Event.id > cursor).order_by(Event.id).limit(limit))
    return [event_to_proto(row) for row in rows]


async def feed_bounds(db: Database) -> tuple[int, int]:
    """The oldest and the newest cursor in the feed (0, 0 when empty)."""
    return await db.read(_head, name="event_head")
