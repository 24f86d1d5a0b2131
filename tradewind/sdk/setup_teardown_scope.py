"""``with setup >> teardown:`` blocks: the work created inside runs between the two.

As in Airflow, a setup or teardown task used as a context manager puts its setups upstream of
the roots of the tasks created in the block and its teardowns downstream of their leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator


@dataclass
class _Scope:
    owner: BaseOperator
    setups: list[BaseOperator]
    teardowns: list[BaseOperator]
    created: list[BaseOperator] = field(default_factory=list)


_SCOPES: list[_Scope] = []


def note_created(task: BaseOperator) -> None:
    """Record a task created inside every open block."""
    for scope in _SCOPES:
        scope.created.append(task)


def open_scope(task: BaseOperator) -> None:
    """Open the block of ``task``, a setup or a teardown."""
    if task.is_teardown:
        scope = _Scope(task, [t for t in task.upstream_list if t.is_setup], [task])
    else:
        scope = _Scope(task, [task], [t for t in task.downstream_list if t.is_teardown])
    _SCOPES.append(scope)


def close_scope(task: BaseOperator, *, wire: bool) -> None:
    """Close the innermost block of ``task``; with ``wire``, put its work between its ends."""
    scope = next(s for s in reversed(_SCOPES) if s.owner is task)
    _SCOPES.remove(scope)
    if wire:
        _wire(scope)


def _wire(scope: _Scope) -> None:
    ends = {id(t) for t in [*scope.setups, *scope.teardowns]}
    work = [t for t in scope.created if id(t) not in ends]
    ids = {t.task_id for t in work}
    for task in work:
        if not task.upstream_task_ids & ids:
            for setup in scope.setups:
                setup >> task
        if not task.downstream_task_ids & ids:
            for teardown in scope.teardowns:
                task >> teardown
