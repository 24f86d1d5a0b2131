"""Writing change events inside the transaction that made the change.

Code that changes state calls :func:`record_event`; :class:`~services.state.db.engine.Database`
writes the recorded events just before it commits. On PostgreSQL the events are inserted under
a transaction-scoped advisory lock that is held through the commit, so event ids (the feed's
cursors) increase in commit order across every replica: a subscriber that reads "ids above my
cursor" never skips an event that commits late. A NOTIFY in the same transaction wakes the
other replicas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from services.state.db.models import Event

#: Key of the PostgreSQL advisory lock that orders event ids by commit.
EVENT_LOCK_KEY = 0x7472_6164_6577  # "tradew"
NOTIFY_CHANNEL = "tradewind_events"
_PENDING = "tradewind_pending_events"


def record_event(session: Session, **fields: Any) -> None:
    """Record an event to be written with this transaction (see :class:`Event` for fields)."""
    fields.setdefault("time", datetime.now(UTC))
    session.info.setdefault(_PENDING, []).append(fields)


def write_pending_events(session: Session, backend: str) -> int:
    """Insert the recorded events in order; return how many were written."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if not pending:
        return 0
    if backend == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOCK_KEY})
    # sort_by_parameter_order keeps ids in the order the events were recorded.
    session.execute(insert(Event).returning(Event.id, sort_by_parameter_order=True), pending)
    if backend == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
    return len(pending)
