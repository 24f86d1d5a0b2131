"""A task runtime that keeps XComs, Variables and Connections in dictionaries.

Used by ``tradewind.testing.run_dag`` and by tests; one ``InMemoryStore`` holds the data of a
whole DAG run and ``store.runtime_for(task_id)`` gives the bridge of one task instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tradewind.sdk.connection import Connection
from tradewind.sdk.exceptions import ConnectionNotFound


@dataclass
class InMemoryStore:
    """The shared data of an in-memory DAG run."""

    #: XComs by task id, then key.
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Variable texts by key.
    variables: dict[str, str] = field(default_factory=dict)
    #: Connections by conn_id.
    connections: dict[str, Connection] = field(default_factory=dict)

    def runtime_for(self, task_id: str) -> InMemoryRuntime:
        """The bridge of task ``task_id``, sharing this store.

        Args:
            task_id: the task instance that will push XComs through it.

        Returns:
            A new runtime.

        """
        return InMemoryRuntime(store=self, task_id=task_id)

    def add_connection(self, connection: Connection) -> None:
        """Make ``connection`` available to ``Connection.get``.

        Args:
            connection: the connection to store under its conn_id.

        """
        self.connections[connection.conn_id] = connection


@dataclass
class InMemoryRuntime:
    """A ``TaskRuntime`` over an ``InMemoryStore``, bound to one task instance."""

    store: InMemoryStore
    task_id: str

    def get_xcoms(self, task_ids: Sequence[str], key: str) -> dict[str, Any]:
        """See ``TaskRuntime.get_xcoms``."""
        found = {}
        for task_id in task_ids:
            pushed = self.store.xcoms.get(task_id, {})
            if key in pushed:
                found[task_id] = pushed[key]
        return found

    def push_xcom(self, key: str, value: Any) -> None:
        """See ``TaskRuntime.push_xcom``."""
        self.store.xcoms.setdefault(self.task_id, {})[key] = value

    def get_variable(self, key: str) -> str | None:
        """See ``TaskRuntime.get_variable``."""
        return self.store.variables.get(key)

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        """See ``TaskRuntime.set_variable``."""
        self.store.variables[key] = value

    def delete_variable(self, key: str) -> None:
        """See ``TaskRuntime.delete_variable``."""
        self.store.variables.pop(key, None)

    def get_connection(self, conn_id: str) -> Connection:
        """See ``TaskRuntime.get_connection``."""
        try:
            return self.store.connections[conn_id]
        except KeyError:
            raise ConnectionNotFound(f"The conn_id `{conn_id}` isn't defined") from None
