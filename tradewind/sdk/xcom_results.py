"""The values of ``XComArg.map``, ``.zip`` and ``.concat``: sequences computed when read.

Each wraps the resolved inputs and works an item out only when it is asked for, so a mapped
task instance that takes one item calls ``map``'s function once, as in Airflow. A dict input
gives ``(key, value)`` items, as it does to ``expand()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from core.mapping import concat_length, item_at, zip_length


class _NoFill:
    """The default of ``zip(fillvalue=...)``: no fill value, zip to the shortest input."""

    def __repr__(self) -> str:
        return "NO_FILL"


#: ``zip()`` without a fill value.
NO_FILL: Any = _NoFill()

#: What map, zip and concat accept as inputs.
Items = Sequence[Any] | Mapping[Any, Any]


def check_sequence(operation: str, value: Any) -> Items:
    """``value`` if ``operation`` (map, zip, concat) can take its items, as in Airflow.

    Raises:
        ValueError: ``value`` is not a list, tuple or dict (Airflow's message).

    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | Mapping):
        raise ValueError(f"XCom {operation} expects sequence or dict, not {type(value).__name__}")
    return value


class _Computed(Sequence[Any]):
    """A read-only sequence whose items are computed by ``_item(position)``."""

    def _item(self, position: int) -> Any:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        length = len(self)
        if isinstance(index, slice):
            return [self._item(position) for position in range(*index.indices(length))]
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError(f"index {index} is out of range for {length} items")
        return self._item(position)

    def __iter__(self) -> Iterator[Any]:
        for position in range(len(self)):
            yield self._item(position)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str | bytes) or not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


class MapResult(_Computed):
    """``XComArg.map``: each item of ``value`` passed through ``callables`` in turn."""

    def __init__(self, value: Items, callables: Sequence[Callable[[Any], Any]]) -> None:
        self.value = value
        self.callables = tuple(callables)

    def __len__(self) -> int:
        return len(self.value)

    def _item(self, position: int) -> Any:
        item = item_at(self.value, position)
        for function in self.callables:
            item = function(item)
        return item


class ZipResult(_Computed):
    """``XComArg.zip``: tuples of the inputs' items, padded with ``fillvalue`` if given."""

    def __init__(self, values: Sequence[Items], *, fillvalue: Any = NO_FILL) -> None:
        self.values = tuple(values)
        self.fillvalue = fillvalue

    def __len__(self) -> int:
        lengths = [len(value) for value in self.values]
        return zip_length(lengths, filled=self.fillvalue is not NO_FILL)

    def _item(self, position: int) -> tuple[Any, ...]:
        return tuple(
            item_at(value, position) if position < len(value) else self.fillvalue
            for value in self.values
        )


class ConcatResult(_Computed):
    """``XComArg.concat``: the items of each input in turn."""

    def __init__(self, values: Sequence[Items]) -> None:
        self.values = tuple(values)

    def __len__(self) -> int:
        return concat_length([len(value) for value in self.values])

    def _item(self, position: int) -> Any:
        for value in self.values:
            if position < len(value):
                return item_at(value, position)
            position -= len(value)
        raise IndexError(position)  # unreachable: __getitem__ checked the bounds
