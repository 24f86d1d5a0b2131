"""Leases on rows that replicas share (triggers, asset watchers): renew, hand back, take.

A replica names what it holds; what it holds beyond its fair share goes back, the rest is
renewed, and free or expired rows fill it up to the share. Rows are taken in creation order
and locked, skipping ones another replica is taking at the same moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


@dataclass(frozen=True)
class LeaseRound(Generic[Row]):
    """What one round of leasing gave a replica."""

    #: Rows newly the caller's (or held without being named: its last answer was lost).
    leased: list[Row]
    #: Ids the caller named that are not its own any more.
    lost: list[int]
    #: Whether rows over the share went back (other replicas may take them now).
    released: bool


def lease_round(
    session: Session,
    model: Any,
    owner: str,
    held_ids: Sequence[int],
    share: int,
    expires: datetime,
    now: datetime,
) -> LeaseRound[Any]:
    """Renew ``owner``'s leases on ``model`` rows up to ``share`` and take free ones.

    ``model`` has ``id``, ``created_at``, ``lease_owner`` and ``lease_expires_at``.
    """
    order = (model.created_at, model.id)
    held = list(
        session.scalars(
            select(model).where(model.lease_owner == owner).order_by(*order).with_for_update()
        )
    )
    keep, over = held[:share], held[share:]
    for row in over:
        row.lease_owner = None
        row.lease_expires_at = None
    for row in keep:
        row.lease_expires_at = expires
    kept = {row.id for row in keep}
    named = set(held_ids)
    leased = [row for row in keep if row.id not in named]
    if len(keep) < share:
        free = list(
            session.scalars(
                select(model)
                .where(or_(model.lease_owner.is_(None), model.lease_expires_at <= now))
                .order_by(*order)
                .limit(share - len(keep))
                .with_for_update(skip_locked=True)
            )
        )
        for row in free:
            row.lease_owner = owner
            row.lease_expires_at = expires
        leased += free
    return LeaseRound(leased, sorted(named - kept), bool(over))
