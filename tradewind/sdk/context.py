"""The context of a running task: what templates and ``execute(context)`` see.

``build_context`` makes it from plain values, with Airflow's names (``ds``, ``ti``,
``params``, ``dag_run``, ``var``, ``macros`` ...). ``get_current_context()`` returns it from
inside a running task, as in Airflow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pendulum

from core.states import DagRunType
from tradewind.sdk import macros
from tradewind.sdk.asset_events import (
    AssetEventQuery,
    AssetEventResult,
    InletEventsAccessors,
    LazyTriggeringAssetEvents,
    OutletEventAccessors,
)
from tradewind.sdk.asset_state import AssetStateStoreAccessors
from tradewind.sdk.assets import Asset, AssetNameRef, AssetUriRef
from tradewind.sdk.connection import Connection
from tradewind.sdk.exceptions import NoTaskContext, TradewindException
from tradewind.sdk.params import NOTSET, resolve_params
from tradewind.sdk.runtime import current_runtime
from tradewind.sdk.task_state import TaskStateStore
from tradewind.sdk.variable import Variable
from tradewind.sdk.xcom_arg import XCOM_RETURN_KEY

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG

#: A task's context: a plain dict, as in Airflow.
Context = dict[str, Any]

#: The names every context has (TaskFlow functions may declare them as parameters).
CONTEXT_KEYS = frozenset(
    {
        "conf", "conn", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds",
        "ds_nodash", "inlets", "logical_date", "macros", "outlets", "params", "run_id",
        "task", "task_instance", "task_instance_key_str", "templates_dict", "test_mode", "ti",
        "ts", "ts_nodash", "ts_nodash_with_tz", "var", "task_reschedule_count",
        "inlet_events", "outlet_events", "triggering_asset_events", "asset_state_store",
        "partition_key",
    }
)  # fmt: skip

_current_context: ContextVar[Context | None] = ContextVar("tradewind_context", default=None)


@dataclass(frozen=True)
class DagRunInfo:
    """The ``dag_run`` of the context: the run a task instance belongs to."""

    dag_id: str
    run_id: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    conf: Mapping[str, Any] = field(default_factory=dict)
    #: "manual", "scheduled" or "backfill".
    run_type: str = "manual"
    #: When the run started, if known.
    start_date: datetime | None = None
    #: The partition the run is for (None: none), and the moment its key names.
    partition_key: str | None = None
    partition_date: datetime | None = None


@dataclass
class RuntimeTaskInstance:
    """The ``ti`` of the context: the running task instance, with its XCom methods."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    #: The number of tries allowed after the first (the task's retries, unless changed).
    max_tries: int
    task: BaseOperator
    logical_date: datetime
    map_index: int = -1
    #: For a reschedule-mode sensor: its first poke since it was last cleared.
    first_reschedule_date: datetime | None = None

    def get_first_reschedule_date(self, context: Mapping[str, Any]) -> datetime | None:
        """When a reschedule-mode sensor first poked (None before its first reschedule)."""
        if not context.get("task_reschedule_count"):
            return None
        return self.first_reschedule_date

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        key: str = XCOM_RETURN_KEY,
        default: Any = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_indexes: int | Sequence[int] | None = None,
        include_prior_dates: bool = False,
    ) -> Any:
        """Read XComs of tasks of the same DAG run.

        Args:
            task_ids: one task id (returns one value), several (returns a list), or None
                for the current task.
            key: the XCom key.
            default: the value for a task that has no such XCom.
            dag_id: must be the current DAG (other DAGs are not supported).
            run_id: must be the current run (other runs are not supported).
            map_indexes: which instances of a mapped task: one map index (its value), several
                (a list of their values) or None (every instance's value, in map index order).
            include_prior_dates: not supported; must be False.

        Returns:
            The value, or the list of values in the order of ``task_ids``.

        """
        if (dag_id not in (None, self.dag_id)) or (run_id not in (None, self.run_id)):
            raise TradewindException("xcom_pull reads XComs of the current DAG run only")
        if include_prior_dates:
            raise TradewindException("xcom_pull(include_prior_dates=True) is not supported")
        if task_ids is None or isinstance(task_ids, str):
            single, ids = True, [self.task_id if task_ids is None else task_ids]
        else:
            single, ids = False, list(task_ids)
        one_index = map_indexes if isinstance(map_indexes, int) else None
        found = current_runtime().get_xcom_items(ids, key, map_index=one_index)
        values = [_pulled(found.get(task_id), map_indexes, default) for task_id in ids]
        return values[0] if single else values

    def xcom_push(self, key: str, value: Any) -> None:
        """Push an XCom of this task instance.

        Args:
            key: the XCom key.
            value: the value.

        """
        current_runtime().push_xcom(key, value)


class _VariableAccessor:
    """``var.value.name`` and ``var.json.name`` in templates."""

    def __init__(self, *, deserialize_json: bool) -> None:
        self._deserialize_json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        return Variable.get(key, deserialize_json=self._deserialize_json)

    def get(self, key: str, default_var: Any = NOTSET) -> Any:
        """Read a Variable, with a default for a missing one."""
        return Variable.get(key, default_var, deserialize_json=self._deserialize_json)


class _ConnectionAccessor:
    """``conn.conn_id.host`` in templates."""

    def __getattr__(self, conn_id: str) -> Connection:
        return Connection.get(conn_id)

    def get(self, conn_id: str) -> Connection:
        """Read a Connection."""
        return Connection.get(conn_id)


@dataclass(frozen=True)
class _Var:
    value: _VariableAccessor
    json: _VariableAccessor


#: Every context's task state store: it acts for whichever task instance runs.
_TASK_STATE_STORE = TaskStateStore()


def build_context(
    *,
    task: BaseOperator,
    run_id: str,
    logical_date: datetime,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    try_number: int = 1,
    max_tries: int | None = None,
    run_type: str = "manual",
    run_start_date: datetime | None = None,
    map_index: int = -1,
    task_reschedule_count: int = 0,
    first_reschedule_date: datetime | None = None,
    partition_key: str | None = None,
    partition_date: datetime | None = None,
) -> Context:
    """The context of one try of a task instance.

    Args:
        task: the task (belonging to its DAG).
        run_id: the DAG run's id.
        logical_date: the run's logical date (naive means UTC).
        data_interval_start: the start of the run's data interval (the logical date by
            default).
        data_interval_end: its end (the logical date by default).
        conf: the run's conf; it overrides the params' defaults.
        try_number: the try, from 1.
        max_tries: the tries allowed after the first; the task's retries by default.
        run_type: "manual", "scheduled" or "backfill".
        run_start_date: when the run started.
        map_index: the instance of a mapped task (-1: the task is not mapped).
        task_reschedule_count: how often a reschedule-mode sensor was rescheduled.
        first_reschedule_date: that sensor's first poke.
        partition_key: the partition the run is for, if any.
        partition_date: the moment its key names, if any.

    Returns:
        The context, a dict with Airflow's keys.

    Raises:
        ParamValidationError: when the conf gives a param a value its schema refuses.

    """
    dag: DAG | None = task.dag
    dag_id = task.dag_id
    logical = _utc(logical_date)
    start = _utc(data_interval_start) if data_interval_start else logical
    end = _utc(data_interval_end) if data_interval_end else logical
    run_conf = dict(conf or {})
    declared = {**(dag.params if dag is not None else {}), **task.params}
    ti = RuntimeTaskInstance(
        dag_id=dag_id,
        task_id=task.task_id,
        run_id=run_id,
        try_number=try_number,
        max_tries=task.retries if max_tries is None else max_tries,
        task=task,
        logical_date=logical,
        map_index=map_index,
        first_reschedule_date=_utc(first_reschedule_date) if first_reschedule_date else None,
    )
    dag_run = DagRunInfo(
        dag_id=dag_id,
        run_id=run_id,
        logical_date=logical,
        data_interval_start=start,
        data_interval_end=end,
        conf=run_conf,
        run_type=run_type,
        start_date=run_start_date,
        partition_key=partition_key,
        partition_date=_utc(partition_date) if partition_date else None,
    )
    ds = logical.strftime("%Y-%m-%d")
    ts_nodash = logical.strftime("%Y%m%dT%H%M%S")
    return {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "task_instance_key_str": f"{dag_id}__{task.task_id}__{ds.replace('-', '')}",
        "run_id": run_id,
        "dag_run": dag_run,
        "partition_key": partition_key,
        "logical_date": logical,
        "data_interval_start": start,
        "data_interval_end": end,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": logical.isoformat(),
        "ts_nodash": ts_nodash,
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "params": resolve_params(declared, run_conf),
        "conf": run_conf,
        "macros": macros,
        "task_state_store": _TASK_STATE_STORE,
        "task_store": _TASK_STATE_STORE,
        "var": _Var(
            value=_VariableAccessor(deserialize_json=False),
            json=_VariableAccessor(deserialize_json=True),
        ),
        "conn": _ConnectionAccessor(),
        "inlets": list(task.inlets),
        "outlets": list(task.outlets),
        "inlet_events": InletEventsAccessors(task.inlets, _fetch_asset_events, _resolve_asset),
        "asset_state_store": AssetStateStoreAccessors(task.inlets, task.outlets),
        "outlet_events": OutletEventAccessors(_resolve_asset),
        "triggering_asset_events": LazyTriggeringAssetEvents(
            _triggering_events if run_type == DagRunType.ASSET_TRIGGERED else list, _resolve_asset
        ),
        "test_mode": False,
        "templates_dict": None,
        "task_reschedule_count": task_reschedule_count,
    }


def _resolve_asset(ref: AssetNameRef | AssetUriRef) -> Asset:
    return current_runtime().resolve_asset(ref)


def _fetch_asset_events(query: AssetEventQuery) -> list[AssetEventResult]:
    return current_runtime().list_asset_events(query)


def _triggering_events() -> list[AssetEventResult]:
    return current_runtime().triggering_asset_events()


def get_current_context() -> Context:
    """The context of the task running now (for TaskFlow functions), as in Airflow.

    Returns:
        The context.

    Raises:
        NoTaskContext: outside a running task.

    """
    context = _current_context.get()
    if context is None:
        raise NoTaskContext(
            "current context was requested but no context was found;"
            " are you running within a Tradewind task?"
        )
    return context


@contextmanager
def use_context(context: Context) -> Iterator[Context]:
    """Make ``context`` the current context for the duration of the block.

    Args:
        context: the running task's context.

    Returns:
        A context manager yielding ``context``.

    """
    token = _current_context.set(context)
    try:
        yield context
    finally:
        _current_context.reset(token)


def _utc(value: datetime) -> datetime:
    """A UTC pendulum DateTime, as Airflow's context holds (``logical_date.add(days=1)``)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return pendulum.instance(aware, tz=pendulum.UTC)


def _pulled(
    items: list[tuple[int, Any]] | None, map_indexes: int | Sequence[int] | None, default: Any
) -> Any:
    """What ``xcom_pull`` returns for one task from its instances' ``(map_index, value)``."""
    if not items:
        return default
    if isinstance(map_indexes, int) or items == [(-1, items[0][1])]:
        return items[0][1]
    if map_indexes is None:
        return [value for _, value in items]
    by_index = dict(items)
    return [by_index.get(index, default) for index in map_indexes]
