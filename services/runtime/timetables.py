"""A DAG's schedule as the contract carries it, turned into the timetable rules of ``core``.

Shared by the scheduler (when runs are due) and the state service (a manual run's data
interval). A user's timetable (``custom``) is not built here: only the scheduler loads users'
classes (see :mod:`scheduler.timetables`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from core.timetables import (
    PRESETS,
    Continuous,
    CronIntervals,
    CronPartitions,
    CronTriggers,
    DeltaIntervals,
    DeltaTriggers,
    Events,
    Manual,
    MultipleCronTriggers,
    Once,
    Timetable,
)
from protos.dag.v1 import message_pb2 as dag_pb2
from services.runtime.partitions import (
    PluginNotLoaded,
    asset_mappers,
    decoded_partition_date,
    mapper_messages,
)


def builtin_timetable(schedule: dag_pb2.Schedule) -> Timetable | None:
    """The rules of a built-in schedule; None for a user's timetable (``custom``)."""
    kind = schedule.WhichOneof("kind")
    zone = schedule.timezone or "UTC"
    if kind == "cron":
        return CronIntervals(PRESETS.get(schedule.cron, schedule.cron), zone)
    if kind == "interval":
        return DeltaIntervals(schedule.interval.ToTimedelta())
    if kind == "once":
        return Once()
    if kind == "continuous":
        return Continuous()
    if kind == "cron_trigger":
        return _cron_triggers(schedule.cron_trigger, zone)
    if kind == "delta_trigger":
        trigger = schedule.delta_trigger
        return DeltaTriggers(trigger.delta.ToTimedelta(), trigger.interval.ToTimedelta())
    if kind == "events":
        dates = sorted(d.ToDatetime(tzinfo=UTC) for d in schedule.events.event_dates)
        return Events(tuple(dates), schedule.events.restrict_to_events)
    if kind == "cron_partition":
        return _cron_partitions(schedule.cron_partition, zone)
    if kind == "custom":
        return None
    return Manual()


def _cron_partitions(partition: dag_pb2.CronPartition, zone: str) -> CronPartitions:
    first = partition.WhichOneof("first_run")
    immediately: Any = False
    if first == "run_immediately":
        immediately = partition.run_immediately
    elif first == "run_immediately_within":
        immediately = partition.run_immediately_within.ToTimedelta()
    return CronPartitions(
        PRESETS.get(partition.expression, partition.expression),
        zone,
        run_immediately=immediately,
        run_offset=partition.run_offset,
        key_format=partition.key_format or "%Y-%m-%dT%H:%M:%S",
    )


def triggered_partition_date(schedule: dag_pb2.Schedule, key: str) -> datetime | None:
    """The partition date of a run triggered for ``key``, as its DAG's timetable decodes it.

    As Airflow's ``resolve_partition_date``: a cron partition timetable parses its key format,
    a partitioned consumer asks its assets' mappers; other timetables (PartitionedAtRuntime
    among them) give no date.

    Raises:
        ValueError: the key does not fit the timetable.

    """
    if not key:
        return None
    if schedule.WhichOneof("kind") == "cron_partition":
        return _cron_partitions(schedule.cron_partition, schedule.timezone or "UTC").decode_key(key)
    if schedule.HasField("partitioning"):
        assets = [keys for leaf in condition_leaves(schedule.assets) if (keys := _leaf_keys(leaf))]
        try:
            mappers = asset_mappers(schedule.partitioning)
        except PluginNotLoaded:
            return None  # a user's mapper: its dates are the scheduler's to decode
        return decoded_partition_date(mappers, assets, key)
    return None


def partitioning_fingerprint(schedule: dag_pb2.Schedule) -> str:
    """A hash of the mapper each asset of a partitioned consumer's condition uses; "" if none.

    As Airflow's rollup fingerprint: it changes when an asset's effective mapper does (or an
    asset joins or leaves the condition), not when an entry for no asset of it is edited.
    """
    if not schedule.HasField("partitioning"):
        return ""
    mappers = mapper_messages(schedule.partitioning)
    digest = hashlib.sha256()
    for name, uri in sorted(
        {keys for leaf in condition_leaves(schedule.assets) if (keys := _leaf_keys(leaf))}
    ):
        mapper = mappers.mapper_for(name, uri).SerializeToString(deterministic=True)
        digest.update(f"{name}\0{uri}\0{len(mapper)}\0".encode() + mapper)
    return digest.hexdigest()


def condition_leaves(condition: dag_pb2.AssetCondition) -> Iterator[dag_pb2.AssetCondition]:
    """The assets, references and aliases an asset condition names, in order."""
    kind = condition.WhichOneof("kind")
    if kind in ("all", "any"):
        for part in getattr(condition, kind).parts:
            yield from condition_leaves(part)
    elif kind is not None:
        yield condition


def _leaf_keys(leaf: dag_pb2.AssetCondition) -> tuple[str, str] | None:
    kind = leaf.WhichOneof("kind")
    if kind == "asset":
        return leaf.asset.name, leaf.asset.uri
    if kind == "reference":
        return leaf.reference.name, leaf.reference.uri
    return None


def _cron_triggers(trigger: dag_pb2.CronTrigger, zone: str) -> Timetable:
    first = trigger.WhichOneof("first_run")
    immediately: Any = None
    if first == "run_immediately":
        immediately = trigger.run_immediately
    elif first == "run_immediately_within":
        immediately = trigger.run_immediately_within.ToTimedelta()
    triggers = [
        CronTriggers(
            PRESETS.get(expression, expression),
            zone,
            trigger.interval.ToTimedelta(),
            immediately,
        )
        for expression in trigger.expressions
    ]
    if len(triggers) == 1:
        return triggers[0]
    return MultipleCronTriggers(tuple(triggers))
