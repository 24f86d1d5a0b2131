"""Dynamic task mapping's arithmetic, as pure functions (Airflow 3's rules).

A mapped task runs once per map index. With ``expand(a=[...], b=[...])`` the indexes walk the
cross product of the mapped arguments in the order they were given, the last one varying
fastest; with ``expand_kwargs(list_of_dicts)`` each index takes one dict. An upstream value
mapped over must be a list, a tuple or a dict (whose items are ``(key, value)`` pairs) no
longer than ``max_map_length``; otherwise the task that pushed it fails, as in Airflow.
``XComArg.zip`` has the length of its shortest input (its longest with a fill value) and
``XComArg.concat`` the sum of its inputs'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Airflow's default ``[core] max_map_length``.
DEFAULT_MAX_MAP_LENGTH = 1024


class UnmappableValue(ValueError):
    """A value a mapped task cannot be expanded over (Airflow's UnmappableXCom*Pushed)."""

    #: The name of Airflow's exception for it.
    airflow_name = "UnmappableXComTypePushed"


class UnmappableLength(UnmappableValue):
    """A value longer than ``max_map_length`` (Airflow's UnmappableXComLengthPushed)."""

    airflow_name = "UnmappableXComLengthPushed"


def mapped_length(value: Any, *, max_length: int = DEFAULT_MAX_MAP_LENGTH) -> int:
    """How many map indexes ``value`` makes.

    Raises:
        UnmappableValue: ``value`` is not a list, tuple or dict, or is longer than
            ``max_length``; the message is Airflow's.

    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | Mapping):
        raise UnmappableValue(f"unmappable return type {type(value).__qualname__!r}")
    if len(value) > max_length:
        raise UnmappableLength(f"unmappable return value length: {len(value)} > {max_length}")
    return len(value)


class NoValueToMap(UnmappableValue):
    """A task mapped over returned nothing (Airflow's XComForMappingNotPushed)."""

    airflow_name = "XComForMappingNotPushed"


def output_length(
    value: Any, *, pushed: bool, mapped_instance: bool, max_length: int = DEFAULT_MAX_MAP_LENGTH
) -> int:
    """How many items a successful task instance gives the mapped tasks that map over it.

    An instance of a mapped task gives one item when it returned a value and none otherwise;
    a task that is not mapped gives its return value's items.

    Raises:
        UnmappableValue: a task that is not mapped returned nothing, or a value that cannot
            be mapped over; the task fails with Airflow's message.

    """
    if mapped_instance:
        return 1 if pushed else 0
    if not pushed:
        raise NoValueToMap("did not push a return value: a mapped task downstream maps over it")
    return mapped_length(value, max_length=max_length)


def cross_product_length(lengths: Mapping[str, int]) -> int:
    """The number of map indexes of ``expand(**kwargs)``: the product of the lengths."""
    return math.prod(lengths.values()) if lengths else 0


def cross_product_positions(index: int, lengths: Mapping[str, int]) -> dict[str, int]:
    """Which item of each mapped argument map index ``index`` takes.

    ``lengths`` is in the order the arguments were given; the last varies fastest.

    Raises:
        IndexError: ``index`` is outside the product.

    """
    if not 0 <= index < cross_product_length(lengths):
        raise IndexError(f"map index {index} is outside 0..{cross_product_length(lengths) - 1}")
    positions: dict[str, int] = {}
    for name, length in reversed(list(lengths.items())):
        positions[name] = index % length
        index //= length
    return {name: positions[name] for name in lengths}


def item_at(value: Sequence[Any] | Mapping[Any, Any], position: int) -> Any:
    """The item a map index takes from a mapped value: a dict gives ``(key, value)``."""
    if isinstance(value, Mapping):
        key = list(value)[position]
        return (key, value[key])
    return value[position]


def zip_length(lengths: Sequence[int], *, filled: bool) -> int:
    """The length of ``XComArg.zip``: its shortest input, or its longest with a fill value."""
    if not lengths:
        return 0
    return max(lengths) if filled else min(lengths)


def concat_length(lengths: Sequence[int]) -> int:
    """The length of ``XComArg.concat``: the sum of its inputs' lengths."""
    return sum(lengths)


def kwargs_list_length(value: Any, *, max_length: int = DEFAULT_MAX_MAP_LENGTH) -> int:
    """The number of map indexes of ``expand_kwargs(value)``: a list of dicts.

    Raises:
        UnmappableValue: ``value`` is not a list of dicts (Airflow's message), or too long.

    """
    length = mapped_length(value, max_length=max_length)
    if isinstance(value, Mapping) or not all(isinstance(item, Mapping) for item in value):
        raise UnmappableValue(
            f"expand_kwargs() expects a list[dict], not {type(value).__qualname__}"
            if isinstance(value, Mapping)
            else "expand_kwargs() expects a list[dict], not a list with other items"
        )
    return length


@dataclass(frozen=True)
class LengthSpec:
    """Where a mapped task's number of map indexes comes from (the contract's MapLength).

    ``kind`` is "literal" (``value`` items given in the DAG file), "upstream" (the return value
    of task ``task_id``), or "product", "zip", "zip_longest", "concat" over ``parts``.
    """

    kind: str
    value: int = 0
    task_id: str = ""
    parts: tuple[LengthSpec, ...] = ()

    def upstream_tasks(self) -> frozenset[str]:
        """The tasks whose return values the length depends on."""
        if self.kind == "upstream":
            return frozenset({self.task_id})
        return frozenset().union(*(part.upstream_tasks() for part in self.parts))


def expansion_length(spec: LengthSpec, outputs: Mapping[str, int | None]) -> int | None:
    """How many map indexes a mapped task expands to, or None while a source is unknown.

    Args:
        spec: where the length comes from.
        outputs: the length of each upstream task's return value (for a mapped upstream: how
            many of its instances returned one); None or absent when not recorded.

    """
    if spec.kind == "literal":
        return spec.value
    if spec.kind == "upstream":
        return outputs.get(spec.task_id)
    lengths = [expansion_length(part, outputs) for part in spec.parts]
    known = [length for length in lengths if length is not None]
    if len(known) < len(lengths):
        return None
    if spec.kind == "product":
        return math.prod(known) if known else 0
    if spec.kind in ("zip", "zip_longest"):
        return zip_length(known, filled=spec.kind == "zip_longest")
    if spec.kind == "concat":
        return concat_length(known)
    raise ValueError(f"unknown map length kind {spec.kind!r}")
