"""What a mapped task maps over, and the arguments one of its map indexes takes.

``expand(x=..., y=...)`` makes a ``DictOfListsExpandInput``: its map indexes walk the cross
product of the arguments, the last one varying fastest. ``expand_kwargs(...)`` makes a
``ListOfDictsExpandInput``: map index i takes the i-th dict. Literal lists and dicts are
read as written; XComArgs are resolved through the task runtime when the instance runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.mapping import (
    UnmappableValue,
    cross_product_length,
    cross_product_positions,
    item_at,
    kwargs_list_length,
    mapped_length,
)
from tradewind.sdk.exceptions import TradewindException
from tradewind.sdk.xcom_arg import XCOM_RETURN_KEY, XComArg, iter_xcom_args

#: An argument of ``expand()``: an XComArg, a list or tuple, or a dict.
ExpandArgument = XComArg | Sequence[Any] | dict[Any, Any]
#: The argument of ``expand_kwargs()``: an XComArg, or a list of dicts and XComArgs.
ExpandKwargsArgument = XComArg | Sequence[XComArg | Mapping[str, Any]]

# The upper bound on mapped values is checked when they are pushed (the upstream task fails,
# as Airflow's UnmappableXComLengthPushed), so resolving them again does not re-check it.
_NO_LIMIT = sys.maxsize


class ExpandError(TradewindException):
    """The arguments of a mapped task instance cannot be worked out from what it maps over."""


def is_mappable(value: Any) -> bool:
    """Whether ``value`` can be an argument of ``expand()``: an XComArg, list, tuple or dict."""
    if isinstance(value, XComArg):
        return True
    return isinstance(value, Sequence | Mapping) and not isinstance(value, str | bytes | bytearray)


def ensure_return_values(value: Any) -> None:
    """Refuse to map over an XCom other than a return value, as Airflow does.

    Args:
        value: what ``expand()`` or ``expand_kwargs()`` was given.

    Raises:
        ValueError: an XComArg inside ``value`` reads another key (Airflow's message).

    """
    for xcom_arg in iter_xcom_args(value):
        for operator, key in xcom_arg.iter_references():
            if key != XCOM_RETURN_KEY:
                raise ValueError(f"cannot map over XCom with custom key {key!r} from {operator}")


def map_index_of(context: Mapping[str, Any], task_id: str) -> int:
    """The map index of the instance ``context`` describes.

    Raises:
        ExpandError: the context is not that of a mapped task instance.

    """
    index = getattr(context.get("ti"), "map_index", None)
    if not isinstance(index, int) or index < 0:
        raise ExpandError(
            f"task {task_id!r} is mapped: it runs as instances with a map index >= 0,"
            f" and this context's map index is {index!r}"
        )
    return index


@dataclass(frozen=True)
class ResolvedArguments:
    """The arguments of one map index."""

    #: The mapped arguments by name.
    kwargs: dict[str, Any]
    #: The names whose values were read from XCom (they are not rendered as templates).
    from_xcom: frozenset[str]


@dataclass(frozen=True)
class DictOfListsExpandInput:
    """``expand(**value)``: one map index per combination of the arguments' items."""

    value: dict[str, ExpandArgument]

    def iter_xcom_args(self) -> Iterator[XComArg]:
        """The XComArgs mapped over (the task's upstream)."""
        yield from iter_xcom_args(self.value)

    def resolve(self, context: Mapping[str, Any], *, task_id: str) -> ResolvedArguments:
        """The arguments of the map index in ``context["ti"]``.

        Args:
            context: the running instance's context (its runtime installed).
            task_id: the mapped task, for the messages.

        Returns:
            One item of each argument.

        Raises:
            ExpandError: a value cannot be mapped over, or the map index is outside the
                cross product of the values.

        """
        index = map_index_of(context, task_id)
        values: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        for name, argument in self.value.items():
            if isinstance(argument, XComArg):
                values[name] = argument.resolve(context)
                lengths[name] = _length(f"expand() argument {name!r} ({argument!r})", values[name])
            else:
                values[name], lengths[name] = argument, len(argument)
        try:
            positions = cross_product_positions(index, lengths)
        except IndexError:
            shown = ", ".join(f"{name}: {length}" for name, length in lengths.items())
            raise ExpandError(
                f"map index {index} of task {task_id!r} is out of range: its expand() arguments"
                f" make {cross_product_length(lengths)} instances ({shown} items)"
            ) from None
        kwargs = {name: item_at(values[name], positions[name]) for name in self.value}
        from_xcom = frozenset(n for n, a in self.value.items() if isinstance(a, XComArg))
        return ResolvedArguments(kwargs, from_xcom)


@dataclass(frozen=True)
class ListOfDictsExpandInput:
    """``expand_kwargs(value)``: map index i takes the i-th dict as keyword arguments."""

    value: ExpandKwargsArgument

    def iter_xcom_args(self) -> Iterator[XComArg]:
        """The XComArgs mapped over (the task's upstream)."""
        yield from iter_xcom_args(self.value)

    def resolve(self, context: Mapping[str, Any], *, task_id: str) -> ResolvedArguments:
        """The keyword arguments of the map index in ``context["ti"]``.

        Args:
            context: the running instance's context (its runtime installed).
            task_id: the mapped task, for the messages.

        Returns:
            The dict of that index.

        Raises:
            ExpandError: the value is not a list of dicts with str keys, or the map index is
                outside it.

        """
        index = map_index_of(context, task_id)
        if isinstance(self.value, XComArg):
            resolved = self.value.resolve(context)
            try:
                length = kwargs_list_length(resolved, max_length=_NO_LIMIT)
            except UnmappableValue as error:
                raise ExpandError(f"expand_kwargs() of task {task_id!r}: {error}") from None
            _check_index(index, length, task_id)
            mapping, from_xcom = resolved[index], True
        else:
            _check_index(index, len(self.value), task_id)
            item = self.value[index]
            from_xcom = isinstance(item, XComArg)
            mapping = item.resolve(context) if isinstance(item, XComArg) else item
        if not isinstance(mapping, Mapping):
            raise ExpandError(
                f"expand_kwargs() expects a list[dict], not list[{_describe_type(mapping)}]"
            )
        for key in mapping:
            if not isinstance(key, str):
                raise ExpandError(
                    "expand_kwargs() input dict keys must all be str,"
                    f" but {key!r} is of type {_describe_type(key)}"
                )
        kwargs = dict(mapping)
        return ResolvedArguments(kwargs, frozenset(kwargs) if from_xcom else frozenset())


#: What a mapped task maps over.
ExpandInput = DictOfListsExpandInput | ListOfDictsExpandInput


def _length(what: str, value: Any) -> int:
    try:
        return mapped_length(value, max_length=_NO_LIMIT)
    except UnmappableValue as error:
        raise ExpandError(f"{what}: {error}") from None


def _check_index(index: int, length: int, task_id: str) -> None:
    if index >= length:
        raise ExpandError(
            f"map index {index} of task {task_id!r} is out of range: its expand_kwargs()"
            f" argument has {length} items"
        )


def _describe_type(value: Any) -> str:
    return "None" if value is None else type(value).__name__
