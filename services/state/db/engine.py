"""Database engines and transactions for SQLite and PostgreSQL.

All database work runs in worker threads through :class:`Database`: ``await db.write(op)``
runs ``op(session)`` in one transaction and commits it; ``await db.read(op)`` runs a read-only
one. On SQLite every write goes through one connection with ``BEGIN IMMEDIATE`` (one writer at
a time, never a lock upgrade that fails), reads through others (WAL lets them run alongside).
On PostgreSQL both use a connection pool. Connection failures become
:class:`~services.runtime.errors.Unavailable`, so callers get UNAVAILABLE and retry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from services.runtime.errors import Unavailable
from services.state.db.event_log import write_pending_events
from tradewind_common.config import ConfigError

logger = logging.getLogger("tradewind.state.db")

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_READERS = 4
#: How often a write that hit a PostgreSQL deadlock or serialization failure is retried.
WRITE_ATTEMPTS = 5
#: SQLSTATEs after which the whole transaction can simply be run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

DB_SECONDS = Histogram(
    "tradewind_db_transaction_seconds",
    "Time of one database transaction, by kind (read or write) and operation.",
    ("kind", "operation"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
DB_ERRORS = Counter(
    "tradewind_db_errors_total",
    "Database transactions that failed, by kind and error class.",
    ("kind", "error"),
)
DB_POOL_CHECKED_OUT = Gauge(
    "tradewind_db_pool_connections_in_use", "Database connections checked out of the pool."
)


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the database is and how many connections to keep."""

    url: str
    pool_size: int = 10


def normalise_url(url: str) -> URL:
    """Parse a SQLAlchemy URL; plain ``postgresql://`` URLs use the psycopg 3 driver.

    Raises:
        ConfigError: the URL is malformed or names an unsupported backend.

    """
    try:
        parsed = make_url(url)
    except Exception as err:
        raise ConfigError(f"invalid database URL {url!r}: {err}") from err
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if parsed.get_backend_name() == "sqlite":
        return parsed
    raise ConfigError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///path or postgresql://"
    )


def _configure_sqlite(engine: Engine, *, writer: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _track_pool(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def on_checkout(*_: Any) -> None:
        DB_POOL_CHECKED_OUT.inc()

    @event.listens_for(engine, "checkin")
    def on_checkin(*_: Any) -> None:
        DB_POOL_CHECKED_OUT.dec()


def owner_only_file(path: Path) -> None:
    """Make sure the file at ``path`` and a folder made for it are its owner's alone.

    The SQLite database holds connections (encrypted) and variables; SQLite gives its journal
    and WAL files the database file's mode. A file another user could read is narrowed.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        status = os.fstat(fd)
        if status.st_mode & 0o077 and status.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class Database:
    """The state service's database: engines, worker threads and transactions."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.url = normalise_url(settings.url)
        self.backend = self.url.get_backend_name()
        if self.backend == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                owner_only_file(Path(database).expanduser())
            self.write_engine = create_engine(self.url, pool_size=1, max_overflow=0)
            self.read_engine = create_engine(self.url, pool_size=SQLITE_READERS, max_overflow=0)
            _configure_sqlite(self.write_engine, writer=True)
            _configure_sqlite(self.read_engine, writer=False)
            self._writers = ThreadPoolExecutor(1, thread_name_prefix="db-write")
            self._readers = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="db-read")
        else:
            self.write_engine = create_engine(
                self.url,
                pool_size=settings.pool_size,
                max_overflow=settings.pool_size,
                pool_pre_ping=True,
                pool_recycle=3600,
            )
            self.read_engine = self.write_engine
            self._writers = ThreadPoolExecutor(settings.pool_size, thread_name_prefix="db")
            self._readers = self._writers
        for engine in {self.write_engine, self.read_engine}:
            _track_pool(engine)
        #: Called after every committed write that recorded events (set by the event hub).
        self.on_events_committed: Callable[[], None] = lambda: None

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded SQLite backend."""
        return self.backend == "sqlite"

    async def write(self, operation: Callable[[Session], T], *, name: str = "") -> T:
        """Run ``operation`` in one write transaction in a worker thread and commit it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writers, self._run_write, operation, name)

    async def read(self, operation: Callable[[Session], T], *, name: str = "") -> T:
        """Run ``operation`` in a read-only transaction in a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, operation, name)

    def run_write(self, operation: Callable[[Session], T], *, name: str = "") -> T:
        """Synchronous :meth:`write`, for tools and tests outside the event loop."""
        return self._run_write(operation, name)

    def _run_write(self, operation: Callable[[Session], T], name: str) -> T:
        operation_name = name or getattr(operation, "__name__", "write")
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            start = time.perf_counter()
            try:
                with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
                    result = operation(session)
                    events_recorded = write_pending_events(session, self.backend)
                DB_SECONDS.labels("write", operation_name).observe(time.perf_counter() - start)
            except DBAPIError as err:
                DB_ERRORS.labels("write", type(err.orig).__name__).inc()
                if _sqlstate(err) in RETRYABLE_SQLSTATES and attempt < WRITE_ATTEMPTS:
                    logger.info(
                        "retrying transaction",
                        extra={
                            "action": "db_retry",
                            "operation": operation_name,
                            "attempt": attempt,
                        },
                    )
                    continue
                raise translate(err) from err
            if events_recorded:
                self.on_events_committed()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_read(self, operation: Callable[[Session], T], name: str) -> T:
        operation_name = name or getattr(operation, "__name__", "read")
        start = time.perf_counter()
        try:
            with Session(self.read_engine, expire_on_commit=False) as session, session.begin():
                result = operation(session)
        except DBAPIError as err:
            DB_ERRORS.labels("read", type(err.orig).__name__).inc()
            raise translate(err) from err
        DB_SECONDS.labels("read", operation_name).observe(time.perf_counter() - start)
        return result

    async def ping(self) -> bool:
        """Whether the database answers a trivial query now."""
        try:
            await self.read(lambda s: s.execute(text("SELECT 1")).scalar(), name="ping")
        except Unavailable:
            return False
        return True

    def dispose(self) -> None:
        """Close every connection and stop the worker threads."""
        self._writers.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.write_engine.dispose()
        self.read_engine.dispose()


def _sqlstate(err: DBAPIError) -> str | None:
    return getattr(err.orig, "sqlstate", None)


def translate(err: DBAPIError) -> Exception:
    """Map a driver error to what the caller should see.

    Lost or refused connections and a locked SQLite file become Unavailable (retry later);
    integrity errors stay as they are for the caller to turn into a proper status.
    """
    if isinstance(err, IntegrityError):
        return err
    if isinstance(err, OperationalError) or err.connection_invalidated:
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        return Unavailable(f"the database is unreachable or busy: {reason}")
    return err
