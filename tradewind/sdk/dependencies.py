"""Dependencies between tasks: ``>>``, ``<<``, ``set_upstream``, ``chain`` and friends.

Operators, XComArgs and task groups are all nodes with ``roots`` and ``leaves``; linking A to B
makes every leaf of A an upstream task of every root of B.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from tradewind.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator

_Node = TypeVar("_Node", bound="DependencyMixin")


class DependencyMixin:
    """A node of the task graph: an operator, an XComArg or a task group."""

    @property
    def roots(self) -> list[BaseOperator]:
        """The tasks that links to this node point at."""
        raise NotImplementedError

    @property
    def leaves(self) -> list[BaseOperator]:
        """The tasks that links from this node start from."""
        raise NotImplementedError

    def set_upstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """Make ``other`` run before this node.

        Args:
            other: a node or a list of nodes.

        """
        link(_as_list(other), [self])

    def set_downstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """Make ``other`` run after this node.

        Args:
            other: a node or a list of nodes.

        """
        link([self], _as_list(other))

    def __rshift__(self, other: Any) -> Any:
        """``self >> other``: other runs after self; returns other for chaining."""
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        """``self << other``: other runs before self; returns other for chaining."""
        self.set_upstream(other)
        return other

    def __rrshift__(self: _Node, other: Any) -> _Node:
        """``[a, b] >> self``."""
        self.set_upstream(other)
        return self

    def __rlshift__(self: _Node, other: Any) -> _Node:
        """``[a, b] << self``."""
        self.set_downstream(other)
        return self


def link(upstream: Sequence[DependencyMixin], downstream: Sequence[DependencyMixin]) -> None:
    """Make every leaf of ``upstream`` an upstream task of every root of ``downstream``.

    Args:
        upstream: the nodes that run first.
        downstream: the nodes that run after them.

    """
    for before in upstream:
        for after in downstream:
            for leaf in before.leaves:
                for root in after.roots:
                    leaf.add_downstream_task(root)


def chain(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Link the elements one after the other, as Airflow's ``chain``.

    Two adjacent lists must have the same length and are linked pairwise; a single node next
    to a list is linked to every element of the list.

    Args:
        *elements: nodes or lists of nodes, in order.

    """
    for before, after in itertools.pairwise(elements):
        before_is_list = not isinstance(before, DependencyMixin)
        after_is_list = not isinstance(after, DependencyMixin)
        if before_is_list and after_is_list:
            befores, afters = _as_list(before), _as_list(after)
            if len(befores) != len(afters):
                raise DagDefinitionError(
                    "chain() got lists of different lengths next to each other:"
                    f" {len(befores)} and {len(afters)}"
                )
            for one, other in zip(befores, afters, strict=True):
                link([one], [other])
        else:
            link(_as_list(before), _as_list(after))


def cross_downstream(
    from_tasks: Sequence[DependencyMixin], to_tasks: DependencyMixin | Sequence[DependencyMixin]
) -> None:
    """Make every task of ``to_tasks`` run after every task of ``from_tasks``.

    Args:
        from_tasks: the nodes that run first.
        to_tasks: the nodes that run after all of them.

    """
    link(list(from_tasks), _as_list(to_tasks))


def _as_list(value: object) -> list[DependencyMixin]:
    items = [value] if isinstance(value, DependencyMixin) else value
    if not isinstance(items, Sequence | set | tuple) or isinstance(items, str):
        raise DagDefinitionError(
            f"dependencies can be set between tasks, task groups and XComArgs, not {value!r}"
        )
    nodes = list(items)
    for node in nodes:
        if not isinstance(node, DependencyMixin):
            raise DagDefinitionError(
                f"dependencies can be set between tasks, task groups and XComArgs, not {node!r}"
            )
    return nodes
