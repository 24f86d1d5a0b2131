"""A task runtime that keeps XComs, Variables and Connections in dictionaries.

Used by ``tradewind.testing.run_dag`` and by tests; one ``InMemoryStore`` holds the data of a
whole DAG run and ``store.runtime_for(task_id, map_index)`` gives the bridge of one task
instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tradewind.sdk.connection import Connection
from tradewind.sdk.exceptions import ConnectionNotFound, TradewindException
from tradewind.sdk.other_dags import StateQuery, TriggeredRun

if TYPE_CHECKING:
    from tradewind.sdk.asset_events import AssetEventQuery, AssetEventResult
    from tradewind.sdk.assets import Asset, AssetNameRef, AssetUriRef


@dataclass
class InMemoryStore:
    """The shared data of an in-memory DAG run."""

    #: XComs of unmapped task instances by task id, then key.
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: XComs of mapped task instances by (task id, map index), then key.
    mapped_xcoms: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: Variable texts by key.
    variables: dict[str, str] = field(default_factory=dict)
    #: Connections by conn_id.
    connections: dict[str, Connection] = field(default_factory=dict)
    #: Task state store keys by (task id, map index), then key: (JSON, expiry or None).
    task_state: dict[tuple[str, int], dict[str, tuple[str, datetime | None]]] = field(
        default_factory=dict
    )
    #: How long a key set without a retention of its own lives (None: forever).
    task_state_retention: timedelta | None = timedelta(days=30)
    #: Asset state store keys by ("name", asset name) or ("uri", asset URI), then key: JSON.
    asset_state: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def runtime_for(self, task_id: str, map_index: int = -1) -> InMemoryRuntime:
        """The bridge of one task instance, sharing this store.

        Args:
            task_id: the task of the instance that will push XComs through it.
            map_index: its map index (-1: the task is not mapped).

        Returns:
            A new runtime.

        """
        return InMemoryRuntime(store=self, task_id=task_id, map_index=map_index)

    def pushed(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The XComs one task instance pushed, by key (empty when none)."""
        if map_index < 0:
            return self.xcoms.get(task_id, {})
        return self.mapped_xcoms.get((task_id, map_index), {})

    def items(self, task_id: str, key: str) -> list[tuple[int, Any]]:
        """Every instance's XCom ``key`` of a task, as ``(map_index, value)`` in map order."""
        found = [(-1, self.xcoms[task_id][key])] if key in self.xcoms.get(task_id, {}) else []
        mapped = sorted(
            (index, pushed[key])
            for (task, index), pushed in self.mapped_xcoms.items()
            if task == task_id and key in pushed
        )
        return found + mapped

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
    map_index: int = -1

    def get_xcoms(self, task_ids: Sequence[str], key: str) -> dict[str, Any]:
        """See ``TaskRuntime.get_xcoms``."""
        found = {}
        for task_id in task_ids:
            pushed = self.store.xcoms.get(task_id, {})
            if key in pushed:
                found[task_id] = pushed[key]
        return found

    def get_xcom_items(
        self, task_ids: Sequence[str], key: str, *, map_index: int | None = None
    ) -> dict[str, list[tuple[int, Any]]]:
        """See ``TaskRuntime.get_xcom_items``."""
        found = {}
        for task_id in task_ids:
            items = [
                item
                for item in self.store.items(task_id, key)
                if map_index is None or item[0] == map_index
            ]
            if items:
                found[task_id] = items
        return found

    def push_xcom(self, key: str, value: Any) -> None:
        """See ``TaskRuntime.push_xcom``."""
        if self.map_index < 0:
            self.store.xcoms.setdefault(self.task_id, {})[key] = value
        else:
            self.store.mapped_xcoms.setdefault((self.task_id, self.map_index), {})[key] = value

    def get_variable(self, key: str) -> str | None:
        """See ``TaskRuntime.get_variable``."""
        return self.store.variables.get(key)

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        """See ``TaskRuntime.set_variable``."""
        self.store.variables[key] = value

    def delete_variable(self, key: str) -> None:
        """See ``TaskRuntime.delete_variable``."""
        self.store.variables.pop(key, None)

    def _task_state(self) -> dict[str, tuple[str, datetime | None]]:
        keys = self.store.task_state.setdefault((self.task_id, self.map_index), {})
        now = datetime.now(UTC)
        for key in [
            k for k, (_, expires) in keys.items() if expires is not None and expires <= now
        ]:
            del keys[key]
        return keys

    def get_task_state(self, key: str) -> str | None:
        """See ``TaskRuntime.get_task_state``."""
        found = self._task_state().get(key)
        return found[0] if found is not None else None

    def set_task_state(
        self, key: str, value_json: str, *, retention: timedelta | None, never_expire: bool
    ) -> None:
        """See ``TaskRuntime.set_task_state``."""
        lifetime = None if never_expire else (retention or self.store.task_state_retention)
        expires = datetime.now(UTC) + lifetime if lifetime else None
        self._task_state()[key] = (value_json, expires)

    def delete_task_state(self, key: str) -> bool:
        """See ``TaskRuntime.delete_task_state``."""
        return self._task_state().pop(key, None) is not None

    def clear_task_state(self) -> int:
        """See ``TaskRuntime.clear_task_state``."""
        keys = self._task_state()
        count = len(keys)
        keys.clear()
        return count

    def _asset_state(self, ref: AssetNameRef | AssetUriRef) -> dict[str, str]:
        where = ("name", ref.name) if isinstance(ref, AssetNameRef) else ("uri", ref.uri)
        return self.store.asset_state.setdefault(where, {})

    def get_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> str | None:
        """See ``TaskRuntime.get_asset_state`` (kept for this process's runs only)."""
        return self._asset_state(ref).get(key)

    def set_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str, value_json: str) -> None:
        """See ``TaskRuntime.set_asset_state``."""
        self._asset_state(ref)[key] = value_json

    def delete_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> bool:
        """See ``TaskRuntime.delete_asset_state``."""
        return self._asset_state(ref).pop(key, None) is not None

    def clear_asset_state(self, ref: AssetNameRef | AssetUriRef) -> int:
        """See ``TaskRuntime.clear_asset_state``."""
        keys = self._asset_state(ref)
        count = len(keys)
        keys.clear()
        return count

    def list_asset_events(self, query: AssetEventQuery) -> list[AssetEventResult]:
        """Asset events are kept by the state service; in memory there are none."""
        return []

    def triggering_asset_events(self) -> list[AssetEventResult]:
        """A run in memory is not triggered by assets."""
        return []

    def resolve_asset(self, ref: AssetNameRef | AssetUriRef) -> Asset:
        """References are resolved by the state service: refused with what to do instead."""
        raise KeyError(
            f"{ref!r} names an asset another DAG defines; resolving it needs the state service"
            " (tradewind standalone): give the Asset itself to run the DAG in this process"
        )

    def count_states(self, query: StateQuery) -> int:
        """Other DAGs are not run in memory: refused with what to do instead."""
        raise TradewindException(
            f"counting DAG {query.dag_id!r}'s states needs the state service: dag.test() runs"
            " one DAG in this process; run both DAGs through the services (tradewind standalone)"
        )

    def trigger_dag_run(
        self,
        dag_id: str,
        *,
        run_id: str,
        logical_date: datetime | None,
        conf: Mapping[str, Any],
        reset_dag_run: bool,
    ) -> TriggeredRun:
        """Other DAGs are not run in memory: refused with what to do instead."""
        raise TradewindException(
            f"triggering DAG {dag_id!r} needs the state service: dag.test() runs one DAG in"
            " this process; run both DAGs through the services (tradewind standalone)"
        )

    def get_connection(self, conn_id: str) -> Connection:
        """See ``TaskRuntime.get_connection``."""
        try:
            return self.store.connections[conn_id]
        except KeyError:
            raise ConnectionNotFound(f"The conn_id `{conn_id}` isn't defined") from None
