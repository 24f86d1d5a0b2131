"""Partition mappers, windows and wait policies from the contract's messages.

The DAG processor writes a consumer's mappers into its ``Schedule.partitioning`` (see
``tradewind.sdk.partition_mappers``); the scheduler (which maps keys and decides when a
partition is complete) and the state service (which decodes a triggered run's partition date)
read them back here. A user's mapper or window (``custom``) is rebuilt only by a caller that
gives a loader: the scheduler, from its plugins folder; the state service runs no user code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from core import partitions as p
from protos.dag.v1 import message_pb2 as dag_pb2

_TEMPORAL_OF_PERIOD = {
    dag_pb2.PartitionPeriod.Value(f"PARTITION_PERIOD_{period.upper()}"): cls
    for period, cls in p.TEMPORAL_MAPPERS.items()
}
_WINDOW_OF_PERIOD = {
    dag_pb2.PartitionPeriod.Value(f"PARTITION_PERIOD_{period.upper()}"): cls
    for period, cls in p.PERIOD_WINDOWS.items()
}


# ---- from messages ----


def _limit(message: dag_pb2.PartitionMapper) -> int | None:
    return message.max_downstream_keys or None


M = TypeVar("M")
#: Rebuilds a user's object from the plugins folder; raises LookupError when it cannot.
PluginLoader = Callable[[dag_pb2.PluginObject], object]


class PluginNotLoaded(LookupError):
    """A user's mapper or window, which this caller does not load."""


def _custom(plugin: dag_pb2.PluginObject, load: PluginLoader | None, base: Any) -> Any:
    if load is None:
        raise PluginNotLoaded(
            f"{plugin.class_path} is a user's class, which only the scheduler loads"
        )
    made = load(plugin)
    if not isinstance(made, base):
        raise ValueError(f"{plugin.class_path} did not rebuild a {base.__name__}: {made!r}")
    return made


def mapper_of(
    message: dag_pb2.PartitionMapper, load: PluginLoader | None = None
) -> p.PartitionMapper:
    """The mapper a message describes.

    Raises:
        ValueError: a malformed message.
        LookupError: a user's mapper that ``load`` cannot rebuild (or no loader is given).

    """
    kind = message.WhichOneof("kind")
    limit = _limit(message)
    if kind == "custom":
        mapper: p.PartitionMapper = _custom(message.custom, load, p.PartitionMapper)
        return mapper
    if kind is None or kind == "identity":
        return p.IdentityMapper(max_downstream_keys=limit)
    if kind == "temporal":
        temporal = message.temporal
        cls = _TEMPORAL_OF_PERIOD.get(temporal.period)
        if cls is None:
            raise ValueError(f"a temporal partition mapper names no period ({temporal.period})")
        return cls(
            timezone=temporal.timezone or "UTC",
            input_format=temporal.input_format or "%Y-%m-%dT%H:%M:%S",
            output_format=temporal.output_format or None,
            max_downstream_keys=limit,
        )
    if kind == "fixed_key":
        return p.FixedKeyMapper(message.fixed_key.downstream_key, max_downstream_keys=limit)
    if kind == "allowed_key":
        return p.AllowedKeyMapper(list(message.allowed_key.allowed_keys), max_downstream_keys=limit)
    if kind == "chain":
        chained = [mapper_of(m, load) for m in message.chain.mappers]
        if len(chained) < 2:
            raise ValueError("a ChainMapper needs at least two mappers")
        return p.ChainMapper(*chained, max_downstream_keys=limit)
    if kind == "product":
        parts = [mapper_of(m, load) for m in message.product.mappers]
        if len(parts) < 2:
            raise ValueError("a ProductMapper needs at least two mappers")
        return p.ProductMapper(
            *parts,
            delimiter=message.product.delimiter or "|",
            max_downstream_keys=limit,
        )
    if kind == "fan_out":
        fan_out = message.fan_out
        return p.FanOutMapper(
            upstream_mapper=mapper_of(fan_out.upstream_mapper, load),
            window=window_of(fan_out.window, load),
            downstream_mapper=mapper_of(fan_out.downstream_mapper, load),
            max_downstream_keys=limit,
        )
    rollup = message.rollup
    return p.RollupMapper(
        upstream_mapper=mapper_of(rollup.upstream_mapper, load),
        window=window_of(rollup.window, load),
        wait_policy=policy_of(rollup.wait_policy),
        max_downstream_keys=limit,
    )


def window_of(message: dag_pb2.PartitionWindow, load: PluginLoader | None = None) -> p.Window:
    """The window a message describes (a user's one through ``load``)."""
    direction = p.Window.Direction.BACKWARD if message.backward else p.Window.Direction.FORWARD
    if message.WhichOneof("kind") == "custom":
        window: p.Window = _custom(message.custom, load, p.Window)
        return window
    if message.WhichOneof("kind") == "segment":
        return p.SegmentWindow(list(message.segment.segments))
    cls = _WINDOW_OF_PERIOD.get(message.period)
    if cls is None:
        raise ValueError(f"a partition window names no period ({message.period})")
    return cls(direction=direction)


def policy_of(message: dag_pb2.PartitionWaitPolicy) -> p.WaitPolicy:
    """The wait policy a message describes (WaitForAll when unset)."""
    if message.WhichOneof("kind") == "minimum_count":
        return p.MinimumCount(message.minimum_count)
    return p.WaitForAll()


@dataclass(frozen=True)
class AssetMappers(Generic[M]):
    """A consumer's mappers: by asset name, then by URI, else the default (as Airflow looks)."""

    by_name: Mapping[str, M]
    by_uri: Mapping[str, M]
    default: M

    def mapper_for(self, name: str, uri: str) -> M:
        """The mapper of the asset with this name and URI."""
        if name in self.by_name:
            return self.by_name[name]
        if uri in self.by_uri:
            return self.by_uri[uri]
        return self.default


def mapper_messages(
    partitioning: dag_pb2.AssetPartitioning,
) -> AssetMappers[dag_pb2.PartitionMapper]:
    """A consumer's mappers as the contract carries them (IdentityMapper by default)."""
    by_name: dict[str, dag_pb2.PartitionMapper] = {}
    by_uri: dict[str, dag_pb2.PartitionMapper] = {}
    for entry in partitioning.asset_mappers:
        if entry.asset_name:
            by_name[entry.asset_name] = entry.mapper
        if entry.asset_uri:
            by_uri[entry.asset_uri] = entry.mapper
    default = (
        partitioning.default_mapper
        if partitioning.HasField("default_mapper")
        else dag_pb2.PartitionMapper(identity=dag_pb2.IdentityMapper())
    )
    return AssetMappers(by_name, by_uri, default)


def asset_mappers(
    partitioning: dag_pb2.AssetPartitioning, load: PluginLoader | None = None
) -> AssetMappers[p.PartitionMapper]:
    """A consumer's mappers from its schedule's partitioning (users' ones through ``load``)."""
    messages = mapper_messages(partitioning)
    built: dict[int, p.PartitionMapper] = {}

    def of(message: dag_pb2.PartitionMapper) -> p.PartitionMapper:
        # One object per entry: an Asset key names its mapper by both name and URI.
        if id(message) not in built:
            built[id(message)] = mapper_of(message, load)
        return built[id(message)]

    return AssetMappers(
        {name: of(m) for name, m in messages.by_name.items()},
        {uri: of(m) for uri, m in messages.by_uri.items()},
        of(messages.default),
    )


def decoded_partition_date(
    mappers: AssetMappers[p.PartitionMapper], assets: Iterable[tuple[str, str]], key: str
) -> datetime | None:
    """The date a key of a partitioned consumer names, when its assets' mappers agree on one.

    As Airflow's ``PartitionedAssetTimetable``: None when no mapper gives the key a date or
    they disagree; ValueError when the key does not fit a mapper that gives dates.

    Args:
        mappers: the consumer's mappers.
        assets: (name, uri) of each asset its condition names ("" for a key a reference
            leaves out).
        key: the partition key.

    """
    anchors = set()
    for mapper in {id(m): m for m in (mappers.mapper_for(n, u) for n, u in assets)}.values():
        try:
            anchor = mapper.to_partition_date(key)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"partition key {key!r} is invalid for this DAG's partition mappers: {err}"
            ) from err
        if anchor is not None:
            anchors.add(anchor)
    return anchors.pop() if len(anchors) == 1 else None
