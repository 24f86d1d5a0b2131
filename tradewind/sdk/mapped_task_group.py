"""Mapped task groups: ``@task_group`` functions expanded over values, one group per item.

``group_fn.expand(x=[1, 2, 3])`` builds the group once, calling the function with a
``MappedArgument`` for each expanded parameter; every task inside is then mapped with the
group's length. Instance i of each task gets item i of the group's arguments, and an XComArg
to another task of the same group gives that task's instance i, so each index runs through
the group on its own (depth first); from outside the group an XComArg to a task inside gives
every instance's value, as for any mapped task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tradewind.sdk.exceptions import DagDefinitionError
from tradewind.sdk.expand_input import (
    DictOfListsExpandInput,
    ExpandInput,
    ListOfDictsExpandInput,
    ensure_return_values,
    is_mappable,
)
from tradewind.sdk.mapped_operator import MappedOperator
from tradewind.sdk.taskgroup import TaskGroup
from tradewind.sdk.xcom_arg import ResolveMixin, XComArg, iter_xcom_args

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator


class MappedTaskGroup(TaskGroup):
    """A task group whose every task is mapped over ``expand_input``."""

    def __init__(self, *args: Any, expand_input: ExpandInput, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expand_input = expand_input

    def __enter__(self) -> MappedTaskGroup:
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if exc[0] is None:
            self._check_and_link()

    def _check_and_link(self) -> None:
        """Refuse what is not supported inside, and make the group's roots wait for its input."""
        producers = {
            operator
            for xcom_arg in iter_xcom_args(self.expand_input.value)
            for operator, _ in xcom_arg.iter_references()
        }
        for task in self:
            if task.is_mapped and task.mapped_task_group() is not self:
                raise DagDefinitionError(
                    f"task {task.task_id!r}: a mapped task group inside mapped task group"
                    f" {self.group_id!r} is not supported"
                )
            if isinstance(task, MappedOperator):
                raise DagDefinitionError(
                    f"task {task.task_id!r}: expand() inside mapped task group"
                    f" {self.group_id!r} is not supported; map the group instead"
                )
        for root in self.roots:
            for producer in sorted(producers, key=lambda task: task.task_id):
                if producer.task_id not in root.upstream_task_ids:
                    producer >> root


class MappedArgument(ResolveMixin):
    """A parameter of a mapped task group's function: item i of its value at map index i."""

    def __init__(self, group: MappedTaskGroup, name: str) -> None:
        self.group = group
        self.name = name

    def __repr__(self) -> str:
        return f"MappedArgument({self.group.group_id!r}, {self.name!r})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The item of the running instance's map index."""
        task = context.get("task")
        task_id = getattr(task, "task_id", str(self.group.group_id))
        resolved = self.group.expand_input.resolve(context, task_id=task_id)
        return resolved.kwargs[self.name]


def build_mapped_group(
    function: Callable[..., Any],
    group_kwargs: Mapping[str, Any],
    fixed: Mapping[str, Any],
    expand_input: ExpandInput,
) -> Any:
    """Build the mapped task group of ``function`` over ``expand_input``.

    Returns:
        What the function returned when not None, else the group.

    """
    mapped_names = (
        list(expand_input.value)
        if isinstance(expand_input, DictOfListsExpandInput)
        else _parameters(function, fixed)
    )
    with MappedTaskGroup(
        add_suffix_on_collision=True, expand_input=expand_input, **group_kwargs
    ) as group:
        if function.__doc__ and not group.tooltip:
            group.tooltip = function.__doc__
        arguments = {name: MappedArgument(group, name) for name in mapped_names}
        result = function(**fixed, **arguments)
    return group if result is None else result


def _parameters(function: Callable[..., Any], fixed: Mapping[str, Any]) -> list[str]:
    """The parameters expand_kwargs fills: every named one not given to partial()."""
    return [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if name not in fixed
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]


def check_expand(
    function: Callable[..., Any], fixed: Mapping[str, Any], kwargs: Mapping[str, Any]
) -> DictOfListsExpandInput:
    """The expand input of ``group_fn.expand(**kwargs)``, checked as Airflow checks it.

    Raises:
        TypeError: no arguments, an unknown name, or a name also given to partial().
        ValueError: a value that is not a list, tuple, dict or XComArg of a return value.

    """
    name = getattr(function, "__name__", "task_group")
    if not kwargs:
        raise TypeError(f"{name}.expand() requires at least one argument")
    accepted = inspect.signature(function).parameters
    for key, value in kwargs.items():
        if key not in accepted:
            raise TypeError(f"{name}.expand() got an unexpected keyword argument {key!r}")
        if key in fixed:
            raise TypeError(f"{name}.expand() got an argument also given to partial(): {key}")
        if not is_mappable(value):
            raise ValueError(
                f"{name}.expand() got an unexpected type {type(value).__name__!r}"
                f" for keyword argument {key}"
            )
    ensure_return_values(kwargs)
    return DictOfListsExpandInput(dict(kwargs))


def check_expand_kwargs(function: Callable[..., Any], value: Any) -> ListOfDictsExpandInput:
    """The expand input of ``group_fn.expand_kwargs(value)``: a list of dicts or an XComArg.

    Raises:
        TypeError: ``value`` is neither.

    """
    if isinstance(value, XComArg):
        ensure_return_values(value)
    elif not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
        name = getattr(function, "__name__", "task_group")
        raise TypeError(
            f"{name}.expand_kwargs() expects a list[dict] or an XComArg, not {type(value).__name__}"
        )
    return ListOfDictsExpandInput(value)


def mapped_group_of(task: BaseOperator) -> MappedTaskGroup | None:
    """The innermost mapped task group a task is in, or None."""
    group = task.task_group
    while group is not None:
        if isinstance(group, MappedTaskGroup):
            return group
        group = group.parent_group
    return None
