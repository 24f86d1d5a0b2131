"""Partition mappers, windows and wait policies as the contract's messages.

Only the built-in classes can be written: the scheduler rebuilds them from the messages (see
``services.runtime.partitions``, the inverse) and runs no user code for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from core import partitions as p
from protos.dag.v1 import message_pb2 as dag_pb2

_TEMPORAL = {cls: period for period, cls in p.TEMPORAL_MAPPERS.items()}
_WINDOWS = {cls: period for period, cls in p.PERIOD_WINDOWS.items()}


def _period(name: str) -> dag_pb2.PartitionPeriod.ValueType:
    return dag_pb2.PartitionPeriod.Value(f"PARTITION_PERIOD_{name.upper()}")


class UnsupportedPartitionMapper(TypeError):
    """A mapper, window or policy that is not one of the built-in classes."""


def _unsupported(thing: object, what: str) -> UnsupportedPartitionMapper:
    return UnsupportedPartitionMapper(
        f"{type(thing).__name__} is not a built-in partition {what}; Tradewind schedules with "
        f"the built-in {what}s only"
    )


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
