"""Checks of the arguments a TaskFlow function is given against its signature.

A call (``add(1, y=2)``) must bind to the signature when the DAG is built; ``partial()`` and
``expand()`` may name only the function's parameters, never a context key, and an argument
of ``expand()`` must be something to map over. The messages are Airflow's.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from tradewind.sdk.context import CONTEXT_KEYS
from tradewind.sdk.exceptions import DagDefinitionError
from tradewind.sdk.expand_input import is_mappable

#: The method whose arguments are checked.
MappingMethod = Literal["partial", "expand"]


def infers_multiple_outputs(function: Callable[..., Any]) -> bool:
    """Whether the return annotation is a dict type, which Airflow takes as multiple_outputs."""
    try:
        annotation = typing.get_type_hints(function).get("return")
    except Exception:  # unresolvable forward references: no inference, as in Airflow
        return False
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)


def check_signature(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    task_id: str,
    *,
    partial: bool = False,
) -> None:
    """Fail when the call does not fit the function's signature.

    Context keys may be left out (they are filled in when the task runs).

    Args:
        function: the TaskFlow function.
        args: its positional arguments.
        kwargs: its keyword arguments.
        task_id: the task, for the message.
        partial: only check the arguments given (a mapped task gets the others later).

    Raises:
        DagDefinitionError: the arguments do not bind, or a context key parameter has a
            default other than None.

    """
    signature = inspect.signature(function)
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name in CONTEXT_KEYS:
            if parameter.default not in (None, inspect.Parameter.empty):
                raise DagDefinitionError(
                    f"context key parameter {parameter.name!r} can't have a default"
                    " other than None",
                    task_id=task_id,
                )
            parameter = parameter.replace(default=None)
        parameters.append(parameter)
    checked = signature.replace(parameters=parameters)
    try:
        if partial:
            checked.bind_partial(*args, **kwargs)
        else:
            checked.bind(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise DagDefinitionError(
            f"bad arguments for {function.__name__}(): {err}", task_id=task_id
        ) from err


def check_mapping_names(
    function: Callable[..., Any], method: MappingMethod, kwargs: Mapping[str, Any]
) -> None:
    """Check the names given to a TaskFlow function's ``partial()`` or ``expand()``.

    Args:
        function: the TaskFlow function.
        method: "partial" or "expand" (whose arguments must also be mappable).
        kwargs: the arguments given.

    Raises:
        ValueError: a context key is named, or an argument of ``expand()`` is not an
            XComArg, list, tuple or dict.
        TypeError: a name is not a parameter of the function (without ``**kwargs``).

    """
    shadowed = [name for name in kwargs if name in CONTEXT_KEYS]
    if len(shadowed) == 1:
        raise ValueError(f"cannot call {method}() on task context variable {shadowed[0]!r}")
    if shadowed:
        names = ", ".join(repr(name) for name in shadowed)
        raise ValueError(f"cannot call {method}() on task context variables {names}")
    parameters = inspect.signature(function).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = [] if takes_any else [name for name in kwargs if name not in parameters]
    if method == "expand":
        for name, value in kwargs.items():
            if name not in unknown and not is_mappable(value):
                raise ValueError(
                    f"expand() got an unexpected type {type(value).__name__!r}"
                    f" for keyword argument {name!r}"
                )
    if len(unknown) == 1:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise TypeError(f"{method}() got unexpected keyword arguments {names}")
