"""LazyXComSequence: the values a mapped task's instances pushed, read when first used.

It is what an XComArg to a mapped task resolves to (Airflow's ``LazyXComSequence``): the
"reduce" task of ``total(add.expand(x=[1, 2, 3]))`` receives one and sees the three results in
map index order. Nothing is read when it is made; the first ``len()``, index, slice or
iteration reads every instance's XCom through the task runtime in one call, and later uses
read the copy kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from tradewind.sdk.runtime import current_runtime


class LazyXComSequence(Sequence[Any]):
    """The XCom ``key`` of every instance of mapped task ``task_id``, in map index order.

    Only the instances that pushed one count: an instance that returned None or was
    skipped is left out, as in Airflow.
    """

    def __init__(self, task_id: str, key: str) -> None:
        self.task_id = task_id
        self.key = key
        self._values: list[Any] | None = None

    def _read(self) -> list[Any]:
        if self._values is None:
            found = current_runtime().get_xcom_items([self.task_id], self.key)
            self._values = [value for _, value in found.get(self.task_id, [])]
        return self._values

    def __len__(self) -> int:
        return len(self._read())

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if not isinstance(index, int | slice):
            raise TypeError(
                f"Sequence indices must be integers or slices not {type(index).__name__}"
            )
        return self._read()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._read())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyXComSequence):
            return self._read() == other._read()
        if isinstance(other, str | bytes) or not isinstance(other, Sequence):
            return NotImplemented
        return self._read() == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self._values is None:
            return "LazyXComSequence(<unevaluated length>)"
        count = len(self._values)
        return f"LazyXComSequence([{count} {'item' if count == 1 else 'items'}])"

    __str__ = __repr__
