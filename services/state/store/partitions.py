"""Partitioned consumers: the events queued for them, their pending partitions, their runs.

A DAG on ``PartitionedAssetTimetable`` runs once per partition key rather than once per
condition met. An event of one of its assets with a partition key is queued for it (in the
transaction that records the event, as for any consumer); a scheduler maps each queued event's
key to the consumer's partitions with the DAG's mappers (users' code may be among them, which
the state service never runs) and sends a plan: where each event goes, and which partitions are
complete. A plan is applied as one transaction under the DAG's row lock, so two schedulers
never assign an event twice nor create a partition's run twice. A partition is deleted when its
run is created; the run keeps its key and the events it consumed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.partitions import carried_partition_date
from core.runs import run_id_for
from core.states import RUN_ACTIVE, DagRunType
from protos.dag.v1 import message_pb2 as dag_pb2
from services.runtime.timetables import partitioning_fingerprint
from services.state.db.models import (
    ID_LENGTH,
    Asset,
    AssetDagRunQueueEvent,
    AssetEvent,
    AssetPartition,
    AssetPartitionEvent,
    Dag,
    DagRun,
    DagWarning,
)
from services.state.store.admission import Refusal
from services.state.store.asset_aliases import aliases_of
from services.state.store.runs import create_asset_triggered_run_row, run_id_taken

#: The most queued events, and the most pending partitions, one read returns.
MAX_READ = 2000
#: The DAG warning a partitioned consumer gets when an event cannot feed it.
ASSET_PARTITION_WARNING = "asset partition"


def sync_partitioning(session: Session, dag: Dag, definition: dag_pb2.DagDefinition) -> None:
    """Record how a DAG version maps keys; drop pending partitions gathered under other rules.

    As Airflow does when a rollup's definition changes: a partition half-gathered under the
    old mappers could fire on partial data or wait for keys that will never come.
    """
    new = partitioning_fingerprint(definition.schedule)
    if dag.partitioning_hash and dag.partitioning_hash != new:
        drop_pending_partitions(session, dag.dag_id)
    if not new:
        session.execute(
            delete(DagWarning).where(
                DagWarning.dag_id == dag.dag_id,
                DagWarning.warning_type == ASSET_PARTITION_WARNING,
            )
        )
    dag.partitioning_hash = new


def drop_pending_partitions(session: Session, dag_id: str) -> None:
    """Delete a DAG's pending partitions and what they received."""
    ids = select(AssetPartition.id).where(AssetPartition.target_dag_id == dag_id)
    session.execute(delete(AssetPartitionEvent).where(AssetPartitionEvent.partition_id.in_(ids)))
    session.execute(delete(AssetPartition).where(AssetPartition.target_dag_id == dag_id))


def warn(session: Session, dag_id: str, message: str, now: datetime) -> None:
    """Record (or replace) the DAG's asset-partition warning."""
    row = session.scalar(
        select(DagWarning).where(
            DagWarning.dag_id == dag_id, DagWarning.warning_type == ASSET_PARTITION_WARNING
        )
    )
    if row is None:
        session.add(
            DagWarning(
                dag_id=dag_id,
                warning_type=ASSET_PARTITION_WARNING,
                message=message,
                timestamp=now,
            )
        )
    else:
        row.message = message
        row.timestamp = now


# ---- reading ----


@dataclass(frozen=True)
class QueuedPartitionEvent:
    """An event queued for a partitioned consumer, not assigned yet."""

    dag_id: str
    event: AssetEvent
    asset: Asset
    #: The aliases its asset is attached to.
    aliases: tuple[str, ...] = ()


def queued_partition_events(
    session: Session, dag_ids: Sequence[str], limit: int = MAX_READ
) -> dict[str, list[QueuedPartitionEvent]]:
    """The events with a partition key queued for these partitioned DAGs, oldest first.

    At most ``limit`` of them (the oldest): the rest wait for the next read.
    """
    if not dag_ids:
        return {}
    rows = list(
        session.execute(
            select(AssetDagRunQueueEvent.target_dag_id, AssetEvent, Asset)
            .join(AssetEvent, AssetEvent.id == AssetDagRunQueueEvent.asset_event_id)
            .join(Asset, Asset.id == AssetEvent.asset_id)
            .join(Dag, Dag.dag_id == AssetDagRunQueueEvent.target_dag_id)
            .where(
                AssetDagRunQueueEvent.target_dag_id.in_(list(dag_ids)),
                Dag.partitioning_hash != "",
                AssetEvent.partition_key.is_not(None),
            )
            .order_by(AssetEvent.id)
            .limit(limit)
        )
    )
    aliases = aliases_of(session, (asset.id for _, _, asset in rows))
    found: dict[str, list[QueuedPartitionEvent]] = defaultdict(list)
    for dag_id, event, asset in rows:
        found[dag_id].append(QueuedPartitionEvent(dag_id, event, asset, aliases.get(asset.id, ())))
    return dict(found)


@dataclass(frozen=True)
class ReceivedKey:
    """An event a pending partition received."""

    event: AssetEvent
    asset: Asset
    source_partition_key: str
    aliases: tuple[str, ...] = ()


@dataclass
class PendingPartition:
    """A partition of a consumer that received events and waits for its run."""

    row: AssetPartition
    received: list[ReceivedKey] = field(default_factory=list)


def pending_partitions(
    session: Session, dag_ids: Sequence[str], limit: int = MAX_READ
) -> dict[str, list[PendingPartition]]:
    """The pending partitions of these DAGs (every DAG for an empty sequence), oldest first.

    At most ``limit`` partitions, the oldest, as Airflow's scheduler takes a bounded batch
    per loop: a partition that can never complete holds back those after it only once so
    many are pending, and `tradewind assets queued --partitions` shows them.
    """
    query = select(AssetPartition.id)
    if dag_ids:
        query = query.where(AssetPartition.target_dag_id.in_(list(dag_ids)))
    chosen = query.order_by(AssetPartition.created_at, AssetPartition.id).limit(limit)
    partitions = {
        row.id: PendingPartition(row)
        for row in session.scalars(
            select(AssetPartition)
            .where(AssetPartition.id.in_(chosen.scalar_subquery()))
            .order_by(AssetPartition.created_at, AssetPartition.id)
        )
    }
    if partitions:
        rows = list(
            session.execute(
                select(AssetPartitionEvent, AssetEvent, Asset)
                .join(AssetEvent, AssetEvent.id == AssetPartitionEvent.asset_event_id)
                .join(Asset, Asset.id == AssetPartitionEvent.asset_id)
                .where(AssetPartitionEvent.partition_id.in_(chosen.scalar_subquery()))
                .order_by(AssetEvent.id)
            )
        )
        aliases = aliases_of(session, (asset.id for _, _, asset in rows))
        for link, event, asset in rows:
            partitions[link.partition_id].received.append(
                ReceivedKey(event, asset, link.source_partition_key, aliases.get(asset.id, ()))
            )
    found: dict[str, list[PendingPartition]] = defaultdict(list)
    for pending in partitions.values():
        found[pending.row.target_dag_id].append(pending)
    return dict(found)


# ---- applying a scheduler's plan ----


@dataclass(frozen=True)
class Assignment:
    """Where one queued event goes: the partitions it feeds, or why none."""

    asset_event_id: int
    partition_keys: tuple[str, ...] = ()
    carried_partition_date: datetime | None = None
    rejection: str = ""


@dataclass(frozen=True)
class PlannedRun:
    """A run for a complete partition, as the scheduler saw it."""

    partition_key: str
    received_event_ids: frozenset[int]
    partition_date: datetime | None


@dataclass(frozen=True)
class PartitionPlan:
    """A scheduler's decisions for one partitioned consumer."""

    dag_id: str
    expected_content_hash: str
    assignments: tuple[Assignment, ...] = ()
    runs: tuple[PlannedRun, ...] = ()


@dataclass
class PlanOutcome:
    """What became of a plan: refused as a whole, or applied with these runs."""

    refusal: Refusal | None = None
    runs: list[DagRun] = field(default_factory=list)
    refused: list[tuple[str, Refusal]] = field(default_factory=list)


def apply_partition_plan(session: Session, plan: PartitionPlan, now: datetime) -> PlanOutcome:
    """Apply one plan under the DAG's row lock (the lock recording an event takes too)."""
    dag = session.get(Dag, plan.dag_id, with_for_update=True)
    if dag is None or not dag.is_active or not dag.partitioning_hash:
        return PlanOutcome(Refusal.NOT_FOUND)
    if dag.is_paused:
        return PlanOutcome(Refusal.DAG_PAUSED)
    if plan.expected_content_hash and plan.expected_content_hash != dag.content_hash:
        return PlanOutcome(Refusal.STALE_GENERATION)
    ids = [a.asset_event_id for a in plan.assignments]
    queued = {
        event.id: event
        for event in session.scalars(
            select(AssetEvent)
            .join(AssetDagRunQueueEvent, AssetDagRunQueueEvent.asset_event_id == AssetEvent.id)
            .where(
                AssetDagRunQueueEvent.target_dag_id == dag.dag_id,
                AssetDagRunQueueEvent.asset_event_id.in_(ids),
            )
        )
    }
    if len(queued) != len(set(ids)):
        return PlanOutcome(Refusal.STATE_CONFLICT)
    if ids:
        session.execute(
            delete(AssetDagRunQueueEvent).where(
                AssetDagRunQueueEvent.target_dag_id == dag.dag_id,
                AssetDagRunQueueEvent.asset_event_id.in_(ids),
            )
        )
    _assign(session, dag.dag_id, plan.assignments, queued, now)
    outcome = PlanOutcome()
    active = session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag.dag_id, DagRun.state.in_(RUN_ACTIVE))
    )
    active = active or 0
    for planned in plan.runs:
        if active >= dag.max_active_runs:
            outcome.refused.append((planned.partition_key, Refusal.ACTIVE_RUNS_LIMIT))
            continue
        run = _create_partition_run(session, dag, planned, now)
        if run is None:
            outcome.refused.append((planned.partition_key, Refusal.STATE_CONFLICT))
            continue
        active += 1
        outcome.runs.append(run)
    return outcome


def _assign(
    session: Session,
    dag_id: str,
    assignments: Sequence[Assignment],
    events: Mapping[int, AssetEvent],
    now: datetime,
) -> None:
    """Add the events to the partitions they feed, creating those that are new.

    A few statements whatever the plan's size: it runs under the DAG's lock, which recording
    an event of its assets waits for.
    """
    rejections = [a.rejection for a in assignments if a.rejection]
    if rejections:
        warn(session, dag_id, rejections[-1], now)
    keys = sorted({key for a in assignments for key in a.partition_keys})
    if not keys:
        return
    partitions = {
        row.partition_key: row
        for row in session.scalars(
            select(AssetPartition).where(
                AssetPartition.target_dag_id == dag_id, AssetPartition.partition_key.in_(keys)
            )
        )
    }
    links: list[tuple[AssetPartition, AssetEvent]] = []
    for assignment in assignments:
        event = events[assignment.asset_event_id]
        for key in dict.fromkeys(assignment.partition_keys):
            carried = assignment.carried_partition_date
            partition = partitions.get(key)
            if partition is None:
                partition = partitions[key] = AssetPartition(
                    target_dag_id=dag_id,
                    partition_key=key,
                    carried_partition_date=carried,
                    created_at=now,
                )
                session.add(partition)
            else:
                partition.carried_partition_date = carried_partition_date(
                    partition.carried_partition_date, carried
                )
            links.append((partition, event))
    session.flush()  # gives the new partitions their ids
    session.execute(
        insert(AssetPartitionEvent),
        [
            {
                "partition_id": partition.id,
                "asset_event_id": event.id,
                "asset_id": event.asset_id,
                "source_partition_key": event.partition_key or "",
            }
            for partition, event in links
        ],
    )


def partition_run_id(triggered_at: datetime, partition_key: str) -> str:
    """A partition run's id: the asset-triggered run id of its newest event, and its key.

    A key too long for a run id is replaced by its hash.
    """
    base = run_id_for(DagRunType.ASSET_TRIGGERED, triggered_at)
    if len(base) + 2 + len(partition_key) > ID_LENGTH:
        partition_key = hashlib.sha256(partition_key.encode()).hexdigest()
    return f"{base}__{partition_key}"


def _create_partition_run(
    session: Session, dag: Dag, planned: PlannedRun, now: datetime
) -> DagRun | None:
    """Create the run of a pending partition, or None when it is not as the caller saw it."""
    partition = session.scalar(
        select(AssetPartition).where(
            AssetPartition.target_dag_id == dag.dag_id,
            AssetPartition.partition_key == planned.partition_key,
        )
    )
    if partition is None:
        return None
    received = list(
        session.scalars(
            select(AssetEvent)
            .join(AssetPartitionEvent, AssetPartitionEvent.asset_event_id == AssetEvent.id)
            .where(AssetPartitionEvent.partition_id == partition.id)
        )
    )
    if {event.id for event in received} != planned.received_event_ids:
        return None  # it received other events since (or was run and gathered anew)
    triggered_at = max(event.timestamp for event in received)
    run_id = partition_run_id(triggered_at, planned.partition_key)
    if run_id_taken(session, dag.dag_id, run_id):
        return None
    run = create_asset_triggered_run_row(
        session,
        dag,
        run_id=run_id,
        triggered_at=triggered_at,
        event_ids=[e.id for e in received],
        now=now,
        partition_key=planned.partition_key,
        partition_date=planned.partition_date,
    )
    session.execute(
        delete(AssetPartitionEvent).where(AssetPartitionEvent.partition_id == partition.id)
    )
    session.delete(partition)
    return run
