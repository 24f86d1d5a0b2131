"""Task groups: named sets of tasks whose ids are prefixed with the group id ("group.task").

A dependency to a group means its roots (its tasks without upstream tasks inside the group);
a dependency from a group means its leaves.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from tradewind.sdk.arguments import ArgumentChecker
from tradewind.sdk.dag_context import (
    current_dag,
    current_task_group,
    pop_task_group,
    push_task_group,
)
from tradewind.sdk.dependencies import DependencyMixin
from tradewind.sdk.exceptions import DagDefinitionError, DuplicateTaskIdError

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG

_P = ParamSpec("_P")
_R = TypeVar("_R")


class TaskGroup(DependencyMixin):
    """A group of tasks, used as a context manager or built by ``@task_group``.

    Args:
        group_id: the group's id, unique in the DAG; None only for a DAG's root group.
        prefix_group_id: prefix the ids of the group's tasks and subgroups with the group id.
        tooltip: shown in user interfaces.
        default_args: defaults for the group's tasks, over the DAG's default_args.
        parent_group: the enclosing group; the innermost open group by default.
        dag: the DAG; the innermost open DAG by default.
        add_suffix_on_collision: add "__1", "__2"... instead of failing on a taken id.

    """

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: Mapping[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        group_display_name: str | None = None,
    ) -> None:
        self.prefix_group_id = prefix_group_id
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.group_display_name = group_display_name
        self.children: dict[str, BaseOperator | TaskGroup] = {}
        if group_id is None:
            # A DAG's root group, created by the DAG itself.
            if dag is None:
                raise DagDefinitionError("a root task group needs its DAG")
            self.dag: DAG = dag
            self.group_id: str | None = None
            self.parent_group: TaskGroup | None = None
            self.default_args: dict[str, Any] = {}
            return
        if dag is None:
            dag = parent_group.dag if parent_group is not None else current_dag()
        if dag is None:
            raise DagDefinitionError(
                f"task group {group_id!r} is created outside any DAG;"
                " create it inside a DAG or pass dag="
            )
        check = ArgumentChecker(dag_id=dag.dag_id)
        check.identifier("group_id", group_id)
        parent = parent_group if parent_group is not None else current_task_group(dag)
        assert parent is not None  # a DAG always has its root group
        self.dag = dag
        self.parent_group = parent
        self.default_args = {**parent.default_args, **(default_args or {})}
        self.group_id = self._unique_id(parent.child_id(group_id), add_suffix_on_collision)
        dag.task_group_dict[self.group_id] = self
        parent.children[self.group_id] = self

    @classmethod
    def create_root(cls, dag: DAG) -> TaskGroup:
        """The root group of ``dag`` (id None), holding its top-level tasks and groups.

        Args:
            dag: the DAG.

        Returns:
            The root group.

        """
        return cls(None, dag=dag)

    def _unique_id(self, group_id: str, add_suffix: bool) -> str:
        taken = set(self.dag.task_group_dict) | set(self.dag.task_dict)
        if group_id not in taken:
            return group_id
        if not add_suffix:
            raise DuplicateTaskIdError(
                f"group_id {group_id!r} has already been added to the DAG", dag_id=self.dag.dag_id
            )
        return unique_id(group_id, taken)

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"

    def __enter__(self) -> TaskGroup:
        push_task_group(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pop_task_group()

    @property
    def is_root(self) -> bool:
        """Whether this is a DAG's root group."""
        return self.group_id is None

    @property
    def label(self) -> str | None:
        """The group id without the parent's prefix."""
        parent_id = self.parent_group.group_id if self.parent_group is not None else None
        if self.group_id and parent_id and self.parent_group and self.parent_group.prefix_group_id:
            return self.group_id[len(parent_id) + 1 :]
        return self.group_id

    def child_id(self, label: str) -> str:
        """The id that a task or group called ``label`` gets inside this group.

        Args:
            label: the id as written by the user.

        Returns:
            "group.label" when the group prefixes ids, else ``label``.

        """
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    def add(self, task: BaseOperator) -> None:
        """Record ``task`` as a direct child.

        Args:
            task: a task of this group's DAG.

        """
        if task.task_id in self.dag.task_group_dict:
            raise DuplicateTaskIdError(
                f"task id {task.task_id!r} is already the id of a task group",
                dag_id=self.dag.dag_id,
                task_id=task.task_id,
            )
        self.children[task.task_id] = task

    def __iter__(self) -> Iterator[BaseOperator]:
        """Every task of the group and of its subgroups."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child
            else:
                yield child

    @property
    def roots(self) -> list[BaseOperator]:
        """The group's tasks with no upstream task inside the group."""
        tasks = list(self)
        ids = {task.task_id for task in tasks}
        return [task for task in tasks if task.upstream_task_ids.isdisjoint(ids)]

    @property
    def leaves(self) -> list[BaseOperator]:
        """The group's tasks with no downstream task inside the group."""
        tasks = list(self)
        ids = {task.task_id for task in tasks}
        return [task for task in tasks if task.downstream_task_ids.isdisjoint(ids)]


def unique_id(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted`` with the next free "__N" suffix, as Airflow names repeats.

    Args:
        wanted: the id asked for.
        taken: the ids in use.

    Returns:
        A free id.

    """
    if wanted not in taken:
        return wanted
    core = re.sub(r"__\d+$", "", wanted)
    pattern = re.compile(rf"^{re.escape(core)}__(\d+)$")
    suffixes = [int(match.group(1)) for name in taken if (match := pattern.match(name))]
    return f"{core}__{max(suffixes, default=0) + 1}"


class _TaskGroupFactory(Generic[_P, _R]):
    """What ``@task_group`` returns: calling it builds a task group."""

    def __init__(
        self,
        function: Callable[_P, _R],
        group_kwargs: Mapping[str, Any],
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self.function = function
        self.group_kwargs = {"group_id": function.__name__, **group_kwargs}
        #: Arguments given to ``partial()``, for ``expand()`` and ``expand_kwargs()``.
        self.fixed: dict[str, Any] = dict(fixed or {})
        functools.update_wrapper(self, function)

    def partial(self, **kwargs: Any) -> _TaskGroupFactory[_P, _R]:
        """Fix arguments for every instance of the group ``expand`` makes.

        Returns:
            A factory whose ``expand``/``expand_kwargs`` pass these arguments as they are.

        """
        return _TaskGroupFactory(self.function, self.group_kwargs, {**self.fixed, **kwargs})

    def expand(self, **kwargs: Any) -> Any:
        """A mapped task group: one instance of each of its tasks per item (cross product).

        Returns:
            What the function returned when not None, else the group.

        """
        from tradewind.sdk.mapped_task_group import build_mapped_group, check_expand

        expand_input = check_expand(self.function, self.fixed, kwargs)
        return build_mapped_group(self.function, self.group_kwargs, self.fixed, expand_input)

    def expand_kwargs(self, value: Any) -> Any:
        """A mapped task group whose instance i calls the function with the i-th dict.

        Returns:
            What the function returned when not None, else the group.

        """
        from tradewind.sdk.mapped_task_group import build_mapped_group, check_expand_kwargs

        expand_input = check_expand_kwargs(self.function, value)
        return build_mapped_group(self.function, self.group_kwargs, self.fixed, expand_input)

    def override(self, **group_kwargs: Any) -> _TaskGroupFactory[_P, _R]:
        """A copy of the factory with other TaskGroup arguments.

        Args:
            **group_kwargs: TaskGroup arguments.

        Returns:
            The new factory.

        """
        return _TaskGroupFactory(self.function, {**self.group_kwargs, **group_kwargs}, self.fixed)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Build the group by calling the function inside it (arguments may be XComArgs).

        Returns:
            What the function returned when not None (so ``a >> group_fn() >> b`` links to
            the task it returned), else the task group.

        """
        with TaskGroup(add_suffix_on_collision=True, **self.group_kwargs) as group:
            if self.function.__doc__ and not group.tooltip:
                group.tooltip = self.function.__doc__
            result = self.function(*args, **kwargs)
        return group if result is None else result


@overload
def task_group(python_callable: Callable[_P, _R]) -> _TaskGroupFactory[_P, _R]: ...


@overload
def task_group(
    python_callable: None = None, **group_kwargs: Any
) -> Callable[[Callable[_P, _R]], _TaskGroupFactory[_P, _R]]: ...


def task_group(
    python_callable: Callable[_P, _R] | None = None, **group_kwargs: Any
) -> _TaskGroupFactory[_P, _R] | Callable[[Callable[_P, _R]], _TaskGroupFactory[_P, _R]]:
    """Turn a function that creates tasks into a task group factory, as Airflow's decorator.

    Args:
        python_callable: the function, when used as ``@task_group`` without arguments.
        **group_kwargs: TaskGroup arguments (``group_id`` defaults to the function's name).

    Returns:
        A factory: calling it creates the group (with a "__N" suffix on repeated calls).

    """
    if python_callable is not None:
        return _TaskGroupFactory(python_callable, group_kwargs)

    def decorate(function: Callable[_P, _R]) -> _TaskGroupFactory[_P, _R]:
        return _TaskGroupFactory(function, group_kwargs)

    return decorate
