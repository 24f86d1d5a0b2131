"""Rows the state service keeps in order by itself: the default pool, old events, expired keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.state.db.models import Event, Pool, TaskState

DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128


def ensure_default_pool(session: Session) -> None:
    """Create ``default_pool`` when it is missing (as Airflow does)."""
    if session.get(Pool, DEFAULT_POOL) is None:
        session.add(Pool(name=DEFAULT_POOL, slots=DEFAULT_POOL_SLOTS, description="Default pool"))


def prune_events(session: Session, retention_seconds: float) -> int:
    """Delete events older than the retention, always keeping the newest one; return how many."""
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
    newest = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    if newest is None:
        return 0
    result = session.execute(delete(Event).where(Event.time < cutoff, Event.id < newest))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_task_state(session: Session) -> int:
    """Delete the task state store keys that have expired; return how many."""
    result = session.execute(delete(TaskState).where(TaskState.expires_at <= datetime.now(UTC)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
