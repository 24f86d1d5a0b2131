"""How many slots each pool has left: one rule for the API, the snapshot and admission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.states import LEASED, TaskInstanceState
from services.state.db.models import Pool, TaskInstance

#: A pool's size meaning "no limit".
UNLIMITED_SLOTS = -1
#: The states whose task instances hold pool slots (deferred ones only when the pool says so).
_HOLDING = LEASED | {TaskInstanceState.QUEUED, TaskInstanceState.DEFERRED}


def open_slots(
    slots: int, *, running: int, queued: int, deferred: int, include_deferred: bool
) -> int:
    """The slots still free in a pool.

    Args:
        slots: the pool's size; -1 means unlimited.
        running: slots held by running and restarting task instances.
        queued: slots held by queued task instances.
        deferred: slots held by deferred task instances.
        include_deferred: whether deferred task instances hold their slots.

    Returns:
        -1 for an unlimited pool, else what is left, never below 0 (a pool shrunk below its
        usage must not read as -1, "unlimited").

    """
    if slots == UNLIMITED_SLOTS:
        return UNLIMITED_SLOTS
    used = running + queued + (deferred if include_deferred else 0)
    return max(0, slots - used)


@dataclass(frozen=True, kw_only=True)
class PoolUsage:
    """A pool and the slots its task instances hold."""

    name: str
    slots: int
    description: str
    include_deferred: bool
    running: int = 0
    queued: int = 0
    deferred: int = 0

    @property
    def open_slots(self) -> int:
        """The slots still free: -1 when unlimited, never below 0 otherwise."""
        return open_slots(
            self.slots,
            running=self.running,
            queued=self.queued,
            deferred=self.deferred,
            include_deferred=self.include_deferred,
        )


def pool_usages(session: Session, rows: Sequence[Pool]) -> list[PoolUsage]:
    """The usage of the given pools, from one grouped query over their task instances."""
    held: dict[tuple[str, str], int] = {}
    if rows:
        for pool, state, total in session.execute(
            select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
            .where(
                TaskInstance.pool.in_([row.name for row in rows]),
                TaskInstance.state.in_(_HOLDING),
            )
            .group_by(TaskInstance.pool, TaskInstance.state)
        ):
            held[pool, state] = int(total or 0)
    return [
        PoolUsage(
            name=row.name,
            slots=row.slots,
            description=row.description,
            include_deferred=row.include_deferred,
            running=sum(held.get((row.name, state), 0) for state in LEASED),
            queued=held.get((row.name, TaskInstanceState.QUEUED), 0),
            deferred=held.get((row.name, TaskInstanceState.DEFERRED), 0),
        )
        for row in rows
    ]


def all_pool_usages(session: Session) -> list[PoolUsage]:
    """Every pool with its usage, by name."""
    return pool_usages(session, list(session.scalars(select(Pool).order_by(Pool.name))))
