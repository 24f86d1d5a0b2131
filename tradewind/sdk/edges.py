"""Edge labels: ``a >> Label("on success") >> b`` links a to b and labels the edge.

A label waits until it has nodes on both sides, then links every upstream node to every
downstream node and records ``{"label": ...}`` on the DAG for each task-to-task edge it made
(``dag.get_edge_info(upstream_id, downstream_id)``). Nodes added later on either side are
linked too, so one label can serve several edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

from tradewind.sdk.dependencies import DependencyMixin, as_nodes, link
from tradewind.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG


class EdgeInfo(TypedDict, total=False):
    """What the DAG knows about one edge."""

    label: str | None


class EdgeModifier(DependencyMixin):
    """Information to put on the edges between the nodes on its two sides (see ``Label``).

    Args:
        label: the text shown on the edges.

    """

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[DependencyMixin] = []
        self._downstream: list[DependencyMixin] = []

    def __repr__(self) -> str:
        return f"Label({self.label!r})"

    @property
    def roots(self) -> list[BaseOperator]:
        """The roots of the nodes after the label."""
        return [root for node in self._downstream for root in node.roots]

    @property
    def leaves(self) -> list[BaseOperator]:
        """The leaves of the nodes before the label."""
        return [leaf for node in self._upstream for leaf in node.leaves]

    def set_upstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """Put ``other`` before the label and link it to the nodes after it.

        Args:
            other: a node or a list of nodes.

        """
        nodes = self._checked(other)
        self._upstream.extend(nodes)
        link(nodes, self._downstream, edge_modifier=self)

    def set_downstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """Put ``other`` after the label and link the nodes before it to it.

        Args:
            other: a node or a list of nodes.

        """
        nodes = self._checked(other)
        self._downstream.extend(nodes)
        link(self._upstream, nodes, edge_modifier=self)

    def add_edge_info(self, dag: DAG, upstream_id: str, downstream_id: str) -> None:
        """Record this label on the edge from ``upstream_id`` to ``downstream_id``.

        Args:
            dag: the DAG of both tasks.
            upstream_id: the upstream task.
            downstream_id: the downstream task.

        """
        dag.set_edge_info(upstream_id, downstream_id, {"label": self.label})

    def _checked(self, other: DependencyMixin | Sequence[DependencyMixin]) -> list[DependencyMixin]:
        nodes = as_nodes(other)
        for node in nodes:
            if isinstance(node, EdgeModifier):
                raise DagDefinitionError(
                    f"{self!r} cannot be linked to another edge label ({node!r});"
                    " labels go between tasks, task groups and XComArgs"
                )
        return nodes


def Label(label: str) -> EdgeModifier:
    """An edge label: ``a >> label >> b`` links a to b and puts the text on the edge.

    Args:
        label: the text.

    Returns:
        The edge modifier.

    """
    return EdgeModifier(label=label)
