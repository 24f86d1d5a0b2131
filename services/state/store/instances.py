"""Which replicas of a service are live, as seen from their lease and claim calls."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.state.db.models import ServiceInstance


def touch_instance(
    session: Session, instance_id: str, kind: str, now: datetime, ttl: timedelta
) -> None:
    """Record that ``instance_id`` is live for ``ttl``."""
    row = session.get(ServiceInstance, instance_id)
    if row is None:
        session.add(
            ServiceInstance(
                instance_id=instance_id, kind=kind, last_seen_at=now, expires_at=now + ttl
            )
        )
    else:
        row.last_seen_at = now
        row.expires_at = now + ttl


def live_instances(session: Session, kind: str, now: datetime) -> int:
    """How many instances of ``kind`` are live now (stale records are dropped)."""
    session.execute(
        delete(ServiceInstance).where(
            ServiceInstance.kind == kind, ServiceInstance.expires_at < now - timedelta(hours=1)
        )
    )
    count = session.scalar(
        select(func.count())
        .select_from(ServiceInstance)
        .where(ServiceInstance.kind == kind, ServiceInstance.expires_at > now)
    )
    return int(count or 0)


def forget_instance(session: Session, instance_id: str) -> None:
    """Drop an instance that is shutting down."""
    session.execute(delete(ServiceInstance).where(ServiceInstance.instance_id == instance_id))
