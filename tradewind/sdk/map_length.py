"""Where a mapped task's number of map indexes comes from, read from what it maps over.

The answer is a ``core.mapping.LengthSpec`` (the contract's ``MapLength`` as data): a literal
list or dict gives its length; an XComArg gives the return value of its task ("upstream"),
whose length the scheduler learns when the task has run; ``a.map(f)`` has the length of
``a``; ``a.zip(b)`` is "zip" ("zip_longest" with a fill value), ``a.concat(b)`` "concat", and
``expand()`` over several arguments the "product" of theirs.
"""

from __future__ import annotations

from typing import Any

from core.mapping import LengthSpec
from tradewind.sdk.expand_input import DictOfListsExpandInput, ExpandInput
from tradewind.sdk.xcom_arg import ConcatXComArg, MapXComArg, PlainXComArg, XComArg, ZipXComArg


def length_spec(expand_input: ExpandInput) -> LengthSpec:
    """The length of ``expand_input``.

    Args:
        expand_input: what a mapped task maps over.

    Returns:
        Its spec; ``expand()`` with one argument gives that argument's own spec.

    """
    if isinstance(expand_input, DictOfListsExpandInput):
        parts = tuple(argument_spec(value) for value in expand_input.value.values())
        return parts[0] if len(parts) == 1 else LengthSpec("product", parts=parts)
    return argument_spec(expand_input.value)


def argument_spec(value: Any) -> LengthSpec:
    """The length of one value mapped over: a literal list or dict, or an XComArg.

    Raises:
        TypeError: an XComArg of an unknown kind.

    """
    if isinstance(value, PlainXComArg):
        return LengthSpec("upstream", task_id=value.operator.task_id)
    if isinstance(value, MapXComArg):
        return argument_spec(value.arg)
    if isinstance(value, ZipXComArg):
        parts = tuple(argument_spec(arg) for arg in value.args)
        return LengthSpec("zip_longest" if value.filled else "zip", parts=parts)
    if isinstance(value, ConcatXComArg):
        return LengthSpec("concat", parts=tuple(argument_spec(arg) for arg in value.args))
    if isinstance(value, XComArg):
        raise TypeError(f"cannot map over {value!r}")
    return LengthSpec("literal", value=len(value))
