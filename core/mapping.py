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
from typing import Any

#: Airflow's default ``[core] max_map_length``.
DEFAULT_MAX_MAP_LENGTH = 1024


class UnmappableValue(ValueError):
    """A value a mapped task cannot be expanded over (Airflow's UnmappableXCom*Pushed)."""


def mapped_length(value: Any, *, max_length: int = DEFAULT_MAX_MAP_LENGTH) -> int:
    """How many map indexes ``value`` makes.

    Raises:
        UnmappableValue: ``value`` is not a list, tuple or dict, or is longer than
            ``max_length``; the message is Airflow's.

    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | Mapping):
        raise UnmappableValue(f"unmappable return type {type(value).__qualname__!r}")
    if len(value) > max_length:
        raise UnmappableValue(f"unmappable return value length: {len(value)} > {max_length}")
    return len(value)


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
