"""Partition mappers, windows and wait policies as the contract's messages.

The built-in classes travel in the contract's own form, which the scheduler rebuilds (see
``services.runtime.partitions``, the inverse). A user's ``PartitionMapper`` or ``Window``
subclass travels as its class path and its ``serialize()``: it must live in a module of the
plugins folder, from which the scheduler loads it, as Airflow's plugins register them.
"""

from __future__ import annotations

from collections.abc import Iterable

from core import partitions as p
from protos.dag.v1 import message_pb2 as dag_pb2
from tradewind.sdk.plugins import plugin_reference

_TEMPORAL = {cls: period for period, cls in p.TEMPORAL_MAPPERS.items()}
_WINDOWS = {cls: period for period, cls in p.PERIOD_WINDOWS.items()}


def _period(name: str) -> dag_pb2.PartitionPeriod.ValueType:
    return dag_pb2.PartitionPeriod.Value(f"PARTITION_PERIOD_{name.upper()}")


class UnsupportedPartitionMapper(ValueError):
    """A mapper, window or policy the scheduler could not rebuild."""


def _unsupported(thing: object, what: str) -> UnsupportedPartitionMapper:
    return UnsupportedPartitionMapper(
        f"{type(thing).__name__} is not a built-in partition {what}; Tradewind schedules with "
        f"the built-in {what}s only"
    )


def _plugin(thing: object, what: str) -> dag_pb2.PluginObject:
    """A user's object as the contract carries it (it must live in the plugins folder)."""
    try:
        class_path, serialized = plugin_reference(thing, f"partition {what}")
    except ValueError as err:
        raise UnsupportedPartitionMapper(str(err)) from err
    return dag_pb2.PluginObject(class_path=class_path, serialized_json=serialized)


def mapper_message(mapper: p.PartitionMapper) -> dag_pb2.PartitionMapper:
    """The contract's message of a built-in mapper (UnsupportedPartitionMapper otherwise)."""
    message = dag_pb2.PartitionMapper(max_downstream_keys=mapper.max_downstream_keys or 0)
    kind = type(mapper)
    if kind in _TEMPORAL:
        temporal = mapper
        assert isinstance(temporal, p.TemporalMapper)
        message.temporal.CopyFrom(
            dag_pb2.TemporalMapper(
                period=_period(_TEMPORAL[kind]),
                timezone=temporal.timezone,
                input_format=temporal.input_format,
                output_format=temporal.output_format,
            )
        )
    elif kind is p.IdentityMapper:
        message.identity.SetInParent()
    elif isinstance(mapper, p.FixedKeyMapper) and kind is p.FixedKeyMapper:
        message.fixed_key.downstream_key = mapper.downstream_key
    elif isinstance(mapper, p.AllowedKeyMapper) and kind is p.AllowedKeyMapper:
        message.allowed_key.allowed_keys.extend(mapper.allowed_keys)
    elif isinstance(mapper, p.ChainMapper) and kind is p.ChainMapper:
        message.chain.mappers.extend(mapper_message(m) for m in mapper.mappers)
    elif isinstance(mapper, p.ProductMapper) and kind is p.ProductMapper:
        message.product.mappers.extend(mapper_message(m) for m in mapper.mappers)
        message.product.delimiter = mapper.delimiter
    elif isinstance(mapper, p.FanOutMapper) and kind is p.FanOutMapper:
        message.fan_out.upstream_mapper.CopyFrom(mapper_message(mapper.upstream_mapper))
        message.fan_out.window.CopyFrom(window_message(mapper.window))
        message.fan_out.downstream_mapper.CopyFrom(mapper_message(mapper.downstream_mapper))
    elif isinstance(mapper, p.RollupMapper) and kind is p.RollupMapper:
        message.rollup.upstream_mapper.CopyFrom(mapper_message(mapper.upstream_mapper))
        message.rollup.window.CopyFrom(window_message(mapper.window))
        message.rollup.wait_policy.CopyFrom(policy_message(mapper.wait_policy))
    elif isinstance(mapper, p.PartitionMapper):
        message.custom.CopyFrom(_plugin(mapper, "mapper"))
    else:
        raise _unsupported(mapper, "mapper")
    return message


def window_message(window: p.Window) -> dag_pb2.PartitionWindow:
    """The contract's message of a built-in window."""
    message = dag_pb2.PartitionWindow(backward=window.direction is p.Window.Direction.BACKWARD)
    kind = type(window)
    if kind in _WINDOWS:
        message.period = _period(_WINDOWS[kind])
    elif isinstance(window, p.SegmentWindow) and kind is p.SegmentWindow:
        message.segment.segments.extend(sorted(window.segments))
    elif isinstance(window, p.Window):
        message.custom.CopyFrom(_plugin(window, "window"))
    else:
        raise _unsupported(window, "window")
    return message


def policy_message(policy: p.WaitPolicy) -> dag_pb2.PartitionWaitPolicy:
    """The contract's message of a built-in wait policy."""
    if type(policy) is p.WaitForAll:
        return dag_pb2.PartitionWaitPolicy(wait_for_all=True)
    if isinstance(policy, p.MinimumCount) and type(policy) is p.MinimumCount:
        return dag_pb2.PartitionWaitPolicy(minimum_count=policy.n)
    raise _unsupported(policy, "wait policy")


def partitioning_message(
    default: p.PartitionMapper, by_asset: Iterable[tuple[str, str, p.PartitionMapper]]
) -> dag_pb2.AssetPartitioning:
    """A consumer's partitioning: (asset name, asset uri, mapper) entries and the default."""
    return dag_pb2.AssetPartitioning(
        asset_mappers=[
            dag_pb2.AssetPartitionMapper(asset_name=name, asset_uri=uri, mapper=mapper_message(m))
            for name, uri, m in by_asset
        ],
        default_mapper=mapper_message(default),
    )
