"""When a partitioned consumer runs: its events mapped to its partitions, and which are complete.

Pure decisions, as Airflow 3.3 makes them for ``PartitionedAssetTimetable``. Each queued event
is for one upstream partition key; the consumer's mapper for the event's asset turns it into
the consumer's own keys (one, several for a fan-out, none when the mapper refuses the key or
fans out past the cap, which the DAG's warnings then say). A partition is complete when the
consumer's asset condition holds over its assets that are satisfied: an asset is satisfied by
any event for the partition, a rolled-up asset when its wait policy accepts the upstream keys
that arrived. Each complete partition gets one run, oldest partition first, as many as
max_active_runs leaves room for; the others wait with what they received.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.partitions import (
    PartitionFanOutExceeded,
    PartitionMapper,
    carried_partition_date,
    downstream_keys,
    partition_key_problem,
    partition_satisfied,
    resolve_partition_date,
)
from protos.dag.v1 import message_pb2 as dag_pb2
from scheduler.asset_conditions import QueuedAsset, condition_holds
from services.runtime.partitions import AssetMappers

#: Airflow's [scheduler] partition_mapper_max_downstream_keys default.
DEFAULT_MAX_DOWNSTREAM_KEYS = 1000


@dataclass(frozen=True)
class PartitionEvent:
    """An event queued for the consumer: its asset and the upstream partition it updated."""

    event_id: int
    name: str
    uri: str
    partition_key: str
    created_at: datetime
    #: The producing run's partition date, when the event is for the run's partition.
    partition_date: datetime | None = None
    #: The aliases its asset is attached to.
    aliases: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Received:
    """An event a partition received."""

    event_id: int
    name: str
    uri: str
    source_key: str
    created_at: datetime
    #: The aliases its asset is attached to.
    aliases: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Pending:
    """A partition that received events and has no run yet."""

    key: str
    received: tuple[Received, ...]
    carried_date: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class PartitionedDag:
    """A partitioned consumer and where it stands, as the state service reports it."""

    dag_id: str
    content_hash: str
    condition: dag_pb2.AssetCondition
    mappers: AssetMappers[PartitionMapper]
    queued: tuple[PartitionEvent, ...]
    pending: tuple[Pending, ...]
    active_runs: int
    max_active_runs: int


@dataclass(frozen=True)
class Assignment:
    """Where a queued event goes: the consumer's partitions, or why none."""

    event_id: int
    keys: tuple[str, ...]
    carried_date: datetime | None = None
    rejection: str = ""


@dataclass(frozen=True)
class PartitionRun:
    """A run for a complete partition."""

    key: str
    expected_received: int
    partition_date: datetime | None
    #: The events it received, which the state service compares.
    event_ids: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class PartitionPlan:
    """The decisions for one consumer, applied by the state service as one transaction."""

    dag_id: str
    content_hash: str
    assignments: tuple[Assignment, ...]
    runs: tuple[PartitionRun, ...]


def assign(dag: PartitionedDag, event: PartitionEvent, cap: int) -> Assignment:
    """Map one queued event to the consumer's partitions."""
    mapper = dag.mappers.mapper_for(event.name, event.uri)
    where = f"asset {event.name!r} partition key {event.partition_key!r}"
    try:
        keys = downstream_keys(mapper, event.partition_key, cap=cap)
    except PartitionFanOutExceeded as err:
        return Assignment(
            event.event_id, (), rejection=f"partition fan-out exceeded: {where}: {err}"
        )
    except Exception as err:  # a mapper refusing a key is the user's configuration, not ours
        return Assignment(
            event.event_id,
            (),
            rejection=(
                f"failed to map partition_key: {where} does not fit DAG {dag.dag_id!r}'s "
                f"partition mapper {mapper!r}: {type(err).__name__}: {err}"
            ),
        )
    if not keys:
        return Assignment(event.event_id, (), rejection=f"{where} maps to no partition of the DAG")
    for key in keys:
        if (problem := partition_key_problem(key)) is not None:
            return Assignment(
                event.event_id,
                (),
                rejection=f"{where} maps to {key!r}, which is not a partition key: {problem}",
            )
    try:
        carried = mapper.carry_partition_date(event.partition_date)
    except Exception:
        carried = None
    return Assignment(event.event_id, keys, carried)


def partition_complete(dag: PartitionedDag, key: str, received: Iterable[Received]) -> bool:
    """Whether the consumer's condition holds for one partition over what it received."""
    keys_by_asset: dict[tuple[str, str], set[str]] = {}
    first_seen: dict[tuple[str, str], datetime] = {}
    aliases: dict[tuple[str, str], frozenset[str]] = {}
    for item in received:
        asset = (item.name, item.uri)
        keys_by_asset.setdefault(asset, set()).add(item.source_key)
        first_seen.setdefault(asset, item.created_at)
        aliases[asset] = aliases.get(asset, frozenset()) | item.aliases
    satisfied = []
    for (name, uri), source_keys in keys_by_asset.items():
        try:
            status = partition_satisfied(dag.mappers.mapper_for(name, uri), key, source_keys)
        except Exception:  # a broken mapper leaves the partition waiting, not the scheduler down
            continue
        if status.satisfied and not status.unreachable:
            satisfied.append(
                QueuedAsset(
                    name=name,
                    uri=uri,
                    created_at=first_seen[(name, uri)],
                    aliases=aliases[(name, uri)],
                )
            )
    return bool(satisfied) and condition_holds(dag.condition, satisfied)


class IncompleteMemo:
    """The partitions found incomplete, so that a pass does not decide them again.

    A partition's completeness depends only on its DAG version and the events it received;
    one seen incomplete with the same events stays incomplete. An entry not looked at during
    a pass is forgotten at its end, so the memo holds no more than the pending partitions.
    """

    def __init__(self) -> None:
        self._known: set[tuple[str, str, str, frozenset[int]]] = set()
        self._seen: set[tuple[str, str, str, frozenset[int]]] = set()

    def complete(self, dag: PartitionedDag, key: str, items: Sequence[Received]) -> bool:
        """Whether the partition is complete, remembering that it is not."""
        entry = (dag.dag_id, dag.content_hash, key, frozenset(i.event_id for i in items))
        self._seen.add(entry)
        if entry in self._known:
            return False
        if partition_complete(dag, key, items):
            return True
        self._known.add(entry)
        return False

    def end_pass(self) -> None:
        """Forget what this pass did not look at."""
        self._known &= self._seen
        self._seen = set()


def plan_partitions(
    dag: PartitionedDag,
    cap: int = DEFAULT_MAX_DOWNSTREAM_KEYS,
    memo: IncompleteMemo | None = None,
) -> PartitionPlan | None:
    """Assign the queued events and pick the complete partitions to run; None: nothing to do."""
    received: dict[str, list[Received]] = {p.key: list(p.received) for p in dag.pending}
    carried: dict[str, datetime | None] = {p.key: p.carried_date for p in dag.pending}
    assignments = []
    for event in dag.queued:
        assignment = assign(dag, event, cap)
        assignments.append(assignment)
        for key in assignment.keys:
            carried[key] = carried_partition_date(carried.get(key), assignment.carried_date)
            received.setdefault(key, []).append(
                Received(
                    event.event_id,
                    event.name,
                    event.uri,
                    event.partition_key,
                    event.created_at,
                    event.aliases,
                )
            )
    runs: list[PartitionRun] = []
    room = max(0, dag.max_active_runs - dag.active_runs)
    for key, items in received.items():
        if len(runs) >= room:
            break
        complete = (
            memo.complete(dag, key, items)
            if memo is not None
            else partition_complete(dag, key, items)
        )
        if not complete:
            continue
        mappers = [dag.mappers.mapper_for(i.name, i.uri) for i in items]
        date = resolve_partition_date(
            list({id(m): m for m in mappers}.values()), key, carried.get(key)
        )
        runs.append(PartitionRun(key, len(items), date, tuple(i.event_id for i in items)))
    if not assignments and not runs:
        return None
    return PartitionPlan(dag.dag_id, dag.content_hash, tuple(assignments), tuple(runs))
