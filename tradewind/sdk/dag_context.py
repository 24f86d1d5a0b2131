"""Which DAG and task group are being built now, and which DAGs a file load has created.

``with DAG(...)`` and ``with TaskGroup(...)`` push themselves here so that operators created
inside the blocks join them. Every DAG created while ``collect_created_dags()`` is active is
recorded, so that a DAG never assigned to a module variable is still found.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradewind.sdk.dag import DAG
    from tradewind.sdk.taskgroup import TaskGroup

# DAG files are parsed on one thread at a time, as in Airflow; plain stacks are enough.
_dags: list[DAG] = []
_groups: list[TaskGroup] = []
_collectors: list[list[DAG]] = []


def push_dag(dag: DAG) -> None:
    """Make ``dag`` the DAG that new operators join.

    Args:
        dag: the DAG entered.

    """
    _dags.append(dag)


def pop_dag() -> None:
    """Leave the innermost DAG block."""
    _dags.pop()


def current_dag() -> DAG | None:
    """The innermost DAG being built, or None outside any DAG block."""
    return _dags[-1] if _dags else None


def push_task_group(group: TaskGroup) -> None:
    """Make ``group`` the group that new operators join.

    Args:
        group: the task group entered.

    """
    _groups.append(group)


def pop_task_group() -> None:
    """Leave the innermost task group block."""
    _groups.pop()


def current_task_group(dag: DAG | None) -> TaskGroup | None:
    """The innermost task group of ``dag`` being built, else the DAG's root group.

    Args:
        dag: the DAG the caller builds a task for, or None.

    Returns:
        The group, or None when ``dag`` is None.

    """
    if dag is None:
        return None
    for group in reversed(_groups):
        if group.dag is dag:
            return group
    return dag.task_group


def register_dag(dag: DAG) -> None:
    """Record a newly created DAG in every active collection.

    Args:
        dag: the DAG just created.

    """
    for collected in _collectors:
        collected.append(dag)


@contextmanager
def collect_created_dags() -> Iterator[list[DAG]]:
    """Collect the DAGs created inside the block.

    Returns:
        A context manager yielding the list the DAGs are appended to, in creation order.

    """
    collected: list[DAG] = []
    _collectors.append(collected)
    try:
        yield collected
    finally:
        _collectors.remove(collected)
