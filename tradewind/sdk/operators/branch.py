"""BaseBranchOperator: subclasses choose which direct downstream tasks run; the others skip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.skipping import branch_skip_ids


class BaseBranchOperator(BaseOperator):
    """A task that follows some of its direct downstream tasks and skips the others.

    Subclasses implement ``choose_branch(context)``, returning a task id, a task group id
    (standing for the group's roots), a list of them, or None to skip every direct downstream
    task. Tasks downstream of a followed task are followed too, so a join right after the
    branch still runs. What ``choose_branch`` returns is pushed as the "return_value" XCom.
    """

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str] | None:
        """Choose the branch(es) to follow.

        Args:
            context: the task instance's context, as passed to ``execute``.

        Returns:
            A task or task group id, several of them, or None to follow none.

        """
        raise NotImplementedError(f"{type(self).__name__} does not implement choose_branch()")

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call ``choose_branch`` and return its choice (a list when it returned several).

        Args:
            context: the task instance's context.

        Returns:
            The branch(es) to follow.

        """
        branches = _as_value(self.choose_branch(context))
        self.log.info("Branch into %s", branches)
        return branches

    def downstream_task_ids_to_skip(self, result: Any) -> set[str]:
        """The direct downstream tasks not on a followed branch.

        Args:
            result: what ``execute`` returned.

        Returns:
            The task ids to skip.

        """
        return branch_skip_ids(self, result)


def _as_value(branches: Any) -> Any:
    """A generator or set of ids as a list, so that it can be pushed as an XCom."""
    if isinstance(branches, set | frozenset):
        return sorted(branches, key=str)
    if isinstance(branches, Iterable) and not isinstance(branches, str | list | Mapping):
        return list(branches)
    return branches
