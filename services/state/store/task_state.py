"""The task state store (Airflow 3.3's ``task_state_store``): key/values of one task instance.

A task process reaches only its own task instance's keys, through its lease; the keys outlive
its tries, so a retry finds what an earlier try kept (an external job's id, a checkpoint).
A key expires after its retention; expired keys read as missing and are pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from services.state.db.models import TaskState
from services.state.store.execution import TryLease, verify_caller
from services.state.store.task_instances import TaskInstanceKey, get_ti


def expiry(
    now: datetime, retention: timedelta | None, *, never_expire: bool, default: timedelta | None
) -> datetime | None:
    """When a key written now expires: after its own retention, else the default; None: never.

    A default of None (or zero) keeps keys without a retention of their own forever.
    """
    if never_expire:
        return None
    chosen = retention if retention is not None else default
    return now + chosen if chosen else None


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(TaskState.expires_at.is_(None), TaskState.expires_at > now)


def get_task_state(session: Session, lease: TryLease, key: str, now: datetime) -> TaskState | None:
    """A key of the caller's task instance, or None when unset or expired."""
    ti = verify_caller(session, lease, now)
    return session.scalar(
        select(TaskState).where(
            TaskState.task_instance_id == ti.id, TaskState.key == key, _live(now)
        )
    )


def set_task_state(
    session: Session,
    lease: TryLease,
    key: str,
    value_json: str,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    """Write a key of the caller's task instance, replacing its value and expiry."""
    ti = verify_caller(session, lease, now)
    row = session.get(TaskState, (ti.id, key))
    if row is None:
        session.add(
            TaskState(
                task_instance_id=ti.id,
                key=key,
                value_json=value_json,
                updated_at=now,
                expires_at=expires_at,
            )
        )
        return
    row.value_json = value_json
    row.updated_at = now
    row.expires_at = expires_at


def delete_task_state(session: Session, lease: TryLease, key: str, now: datetime) -> bool:
    """Delete a key of the caller's task instance; whether a live one was there."""
    ti = verify_caller(session, lease, now)
    row = session.get(TaskState, (ti.id, key))
    if row is None:
        return False
    live = row.expires_at is None or row.expires_at > now
    session.delete(row)
    return live


def clear_task_state(session: Session, lease: TryLease, now: datetime) -> int:
    """Delete every key of the caller's task instance; how many were live."""
    ti = verify_caller(session, lease, now)
    return clear_task_instance_state(session, ti.id, now)


def clear_task_instance_state(session: Session, task_instance_id: int, now: datetime) -> int:
    """Delete every key of one task instance; how many were live."""
    rows = list(
        session.scalars(select(TaskState).where(TaskState.task_instance_id == task_instance_id))
    )
    for row in rows:
        session.delete(row)
    return sum(1 for row in rows if row.expires_at is None or row.expires_at > now)


def list_task_state(session: Session, key: TaskInstanceKey, now: datetime) -> Sequence[TaskState]:
    """The live keys of one task instance, by key (NotFound for an unknown instance)."""
    ti = get_ti(session, key)
    return list(
        session.scalars(
            select(TaskState)
            .where(TaskState.task_instance_id == ti.id, _live(now))
            .order_by(TaskState.key)
        )
    )
