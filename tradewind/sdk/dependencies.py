"""Dependencies between tasks: ``>>``, ``<<``, ``set_upstream``, ``chain`` and friends.

Operators, XComArgs and task groups are all nodes with ``roots`` and ``leaves``; linking A to B
makes every leaf of A an upstream task of every root of B. An edge label
(``tradewind.sdk.edges``) is a node too: linking to it hands the link over to the label.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from tradewind.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.edges import EdgeModifier

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
        link(as_nodes(other), [self])

    def set_downstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """Make ``other`` run after this node.

        Args:
            other: a node or a list of nodes.

        """
        link([self], as_nodes(other))

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


def link(
    upstream: Sequence[DependencyMixin],
    downstream: Sequence[DependencyMixin],
    *,
    edge_modifier: EdgeModifier | None = None,
) -> None:
    """Make every leaf of ``upstream`` an upstream task of every root of ``downstream``.

    A label on either side takes the other side as its own (and links when it has both).

    Args:
        upstream: the nodes that run first.
        downstream: the nodes that run after them.
        edge_modifier: the label to record on each task-to-task edge made.

    """
    from tradewind.sdk.edges import EdgeModifier

    for before in upstream:
        for after in downstream:
            if isinstance(after, EdgeModifier):
                after.set_upstream(before)
                continue
            if isinstance(before, EdgeModifier):
                before.set_downstream(after)
                continue
            for leaf in before.leaves:
                for root in after.roots:
                    leaf.add_downstream_task(root)
                    if edge_modifier is not None:
                        edge_modifier.add_edge_info(leaf._require_dag(), leaf.task_id, root.task_id)


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
            befores, afters = as_nodes(before), as_nodes(after)
            if len(befores) != len(afters):
                raise DagDefinitionError(
                    "chain() got lists of different lengths next to each other:"
                    f" {len(befores)} and {len(afters)}"
                )
            for one, other in zip(befores, afters, strict=True):
                link([one], [other])
        else:
            link(as_nodes(before), as_nodes(after))


def cross_downstream(
    from_tasks: Sequence[DependencyMixin], to_tasks: DependencyMixin | Sequence[DependencyMixin]
) -> None:
    """Make every task of ``to_tasks`` run after every task of ``from_tasks``.

    Args:
        from_tasks: the nodes that run first.
        to_tasks: the nodes that run after all of them.

    """
    link(list(from_tasks), as_nodes(to_tasks))


def chain_linear(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Link each element to every node of the next, as Airflow's ``chain_linear``.

    ``chain_linear(a, [b, c], [d, e, f], g)`` makes b and c run after a, each of d, e and f
    after both b and c, and g after d, e and f.

    Args:
        *elements: nodes or lists of nodes, in order; edge labels are not accepted.

    Raises:
        DagDefinitionError: (a ValueError) without elements, with a label, or when no
            dependency was set (a single list given without ``*``).

    """
    from tradewind.sdk.edges import EdgeModifier

    if not elements:
        raise DagDefinitionError("chain_linear() got no tasks; nothing to link")
    linked = False
    previous: list[DependencyMixin] | None = None
    for element in elements:
        if isinstance(element, EdgeModifier):
            raise DagDefinitionError("chain_linear() does not accept edge labels")
        nodes = as_nodes(element)
        if previous is not None:
            for node in previous:
                link([node], nodes)
                linked = True
        previous = nodes
    if not linked:
        raise DagDefinitionError(
            "chain_linear() set no dependency; pass the elements separately (chain_linear(*tasks))"
        )


def as_nodes(value: object) -> list[DependencyMixin]:
    """``value`` (a node or a list, tuple or set of nodes) as a list of nodes.

    Args:
        value: what a dependency was set with.

    Returns:
        The nodes.

    Raises:
        DagDefinitionError: for anything that is not nodes.

    """
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
