"""Which downstream tasks a branch or a short circuit skips (Airflow's rules), as pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tradewind.sdk.exceptions import TradewindException

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator


def branch_skip_ids(task: BaseOperator, branches: Any) -> set[str]:
    """The direct downstream tasks of a branching ``task`` that are not followed.

    A followed task group id stands for the group's roots. Tasks downstream of a followed
    task are followed too, so that a join directly after the branch is not skipped.

    Args:
        task: the branching task, in its DAG.
        branches: what the branch callable returned: a task or group id, a list, or None.

    Returns:
        The task ids to skip.

    Raises:
        TradewindException: when ``branches`` is not ids, or names unknown tasks.

    """
    dag = task._require_dag()
    followed: set[str] = set()
    for branch in _as_ids(branches):
        group = dag.task_group_dict.get(branch)
        if group is not None:
            followed.update(root.task_id for root in group.roots)
        else:
            followed.add(branch)
    unknown = followed - set(dag.task_dict)
    if unknown:
        raise TradewindException(
            "'branch_task_ids' must contain only valid task_ids."
            f" Invalid tasks found: {sorted(unknown)}"
        )
    for branch in list(followed):
        followed.update(dag.get_task(branch).get_flat_relative_ids(upstream=False))
    return {task_id for task_id in task.downstream_task_ids if task_id not in followed}


def short_circuit_skip_ids(
    task: BaseOperator, condition: Any, *, ignore_downstream_trigger_rules: bool
) -> set[str]:
    """The downstream tasks a short circuit skips when ``condition`` is falsy.

    Args:
        task: the short-circuit task, in its DAG.
        condition: what its callable returned.
        ignore_downstream_trigger_rules: skip every task downstream, however far; otherwise
            only the direct downstream tasks, and trigger rules decide the others.

    Returns:
        The task ids to skip: none when ``condition`` is truthy.

    """
    if condition:
        return set()
    if ignore_downstream_trigger_rules:
        return task.get_flat_relative_ids(upstream=False)
    return set(task.downstream_task_ids)


def _as_ids(branches: Any) -> list[str]:
    if branches is None:
        return []
    if isinstance(branches, str):
        return [branches]
    if isinstance(branches, Iterable):
        ids = list(branches)
        if all(isinstance(branch, str) for branch in ids):
            return ids
    raise TradewindException(
        f"'branch_task_ids' must be a task id or a list of task ids, got {branches!r}"
    )
