"""The bridge between task code and the outside world: XCom, Variables and Connections.

Task code never talks to a server itself. ``Variable.get``, ``Connection.get``,
``ti.xcom_pull`` and ``ti.xcom_push`` call the ``TaskRuntime`` of the task instance that is
running, held in a context variable. The executor installs one that speaks gRPC;
``tradewind.sdk.memory.InMemoryRuntime`` keeps everything in dictionaries for tests and
``tradewind.testing.run_dag``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tradewind.sdk.exceptions import NoTaskContext

if TYPE_CHECKING:
    from tradewind.sdk.asset_events import AssetEventQuery, AssetEventResult
    from tradewind.sdk.assets import Asset, AssetNameRef, AssetUriRef
    from tradewind.sdk.connection import Connection
    from tradewind.sdk.other_dags import StateQuery, TriggeredRun


@runtime_checkable
class TaskRuntime(Protocol):
    """What task code may ask of the system, on behalf of one running task instance."""

    def get_xcoms(self, task_ids: Sequence[str], key: str) -> dict[str, Any]:
        """The XCom ``key`` of each task of the current DAG run that pushed one.

        Args:
            task_ids: the tasks to read from.
            key: the XCom key, "return_value" for return values.

        Returns:
            A mapping from task id to value, without the tasks that have no such XCom.

        """
        ...

    def get_xcom_items(
        self, task_ids: Sequence[str], key: str, *, map_index: int | None = None
    ) -> dict[str, list[tuple[int, Any]]]:
        """The XCom ``key`` of every instance of each task, mapped ones included.

        Args:
            task_ids: the tasks to read from.
            key: the XCom key.
            map_index: only the instance with this map index (-1: a task that is not
                mapped); None: every instance.

        Returns:
            For each task with at least one such XCom, its ``(map_index, value)`` pairs in map
            index order; an unmapped task's one pair has map index -1.

        """
        ...

    def push_xcom(self, key: str, value: Any) -> None:
        """Store an XCom of the current task instance.

        Args:
            key: the XCom key.
            value: the value.

        """
        ...

    def get_variable(self, key: str) -> str | None:
        """The Variable's stored text, or None when it does not exist.

        Args:
            key: the Variable's key.

        """
        ...

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        """Create or replace a Variable.

        Args:
            key: the Variable's key.
            value: its text.
            description: an optional description.

        """
        ...

    def delete_variable(self, key: str) -> None:
        """Delete a Variable; deleting one that does not exist is not an error.

        Args:
            key: the Variable's key.

        """
        ...

    def get_task_state(self, key: str) -> str | None:
        """The JSON text of a key of the current task instance's task state store.

        Args:
            key: the key.

        Returns:
            The JSON, or None when the key is unset or has expired.

        """
        ...

    def set_task_state(
        self, key: str, value_json: str, *, retention: timedelta | None, never_expire: bool
    ) -> None:
        """Write a key of the current task instance's task state store.

        Args:
            key: the key.
            value_json: its value as JSON (not null).
            retention: how long the key lives; None for the deployment's default.
            never_expire: the key never expires (``retention`` is then None).

        """
        ...

    def delete_task_state(self, key: str) -> bool:
        """Delete a key of the current task instance's task state store.

        Args:
            key: the key.

        Returns:
            Whether it was set.

        """
        ...

    def clear_task_state(self) -> int:
        """Delete every key of the current task instance's task state store.

        Returns:
            How many keys were set.

        """
        ...

    def get_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> str | None:
        """The JSON text of a key of an asset's state store (an inlet or outlet of the task).

        Raises:
            KeyError: no such asset.
            PermissionError: the task names the asset neither among its inlets nor outlets.

        """
        ...

    def set_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str, value_json: str) -> None:
        """Write a key of an asset's state store (raises as ``get_asset_state``)."""
        ...

    def delete_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> bool:
        """Delete a key of an asset's state store; whether it was set."""
        ...

    def clear_asset_state(self, ref: AssetNameRef | AssetUriRef) -> int:
        """Delete every key of an asset's state store; how many there were."""
        ...

    def count_states(self, query: StateQuery) -> int:
        """How many of another DAG's runs or task instances match ``query``.

        Raises:
            TradewindException: where other DAGs cannot be seen (``dag.test()``).

        """
        ...

    def trigger_dag_run(
        self,
        dag_id: str,
        *,
        run_id: str,
        logical_date: datetime | None,
        conf: Mapping[str, Any],
        reset_dag_run: bool,
    ) -> TriggeredRun:
        """Trigger a run of another DAG (or clear it, with ``reset_dag_run``).

        Raises:
            DagRunAlreadyExists: the run id is taken and ``reset_dag_run`` is False.

        """
        ...

    def list_asset_events(self, query: AssetEventQuery) -> list[AssetEventResult]:
        """The stored events of an asset, or of those recorded through an alias (inlet_events).

        Args:
            query: whose events, in which order, how many.

        """
        ...

    def triggering_asset_events(self) -> list[AssetEventResult]:
        """The asset events that triggered the current run, oldest first (none usually)."""
        ...

    def resolve_asset(self, ref: AssetNameRef | AssetUriRef) -> Asset:
        """The asset ``Asset.ref(name=...)`` or ``Asset.ref(uri=...)`` names.

        Raises:
            KeyError: no asset has that name or uri.

        """
        ...

    def get_connection(self, conn_id: str) -> Connection:
        """The Connection ``conn_id``.

        Args:
            conn_id: the Connection's id.

        Returns:
            The connection, password included.

        Raises:
            ConnectionNotFound: when it does not exist.

        """
        ...


_current_runtime: ContextVar[TaskRuntime | None] = ContextVar(
    "tradewind_task_runtime", default=None
)


def current_runtime() -> TaskRuntime:
    """The bridge of the task instance running now.

    Returns:
        The runtime installed by ``use_runtime``.

    Raises:
        NoTaskContext: outside a running task (for instance while a DAG file is parsed).

    """
    runtime = _current_runtime.get()
    if runtime is None:
        raise NoTaskContext(
            "no task runtime: Variables, Connections and XComs are only available while a task"
            " runs (not while a DAG file is parsed)"
        )
    return runtime


@contextmanager
def use_runtime(runtime: TaskRuntime) -> Iterator[TaskRuntime]:
    """Install ``runtime`` as the current bridge for the duration of the block.

    Args:
        runtime: the bridge of the task instance about to run.

    Returns:
        A context manager yielding ``runtime``.

    """
    token = _current_runtime.set(runtime)
    try:
        yield runtime
    finally:
        _current_runtime.reset(token)
