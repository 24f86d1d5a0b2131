"""Client methods for DAG runs, task instances, their tries and XCom."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from protos.api.v1 import request_response_pb2 as rr
from protos.run.v1 import message_pb2 as run_pb2
from tradewind.client._base import PAGE_SIZE, ClientBase, ti_key
from tradewind.client._enums import (
    DAG_RUN_STATES,
    DAG_RUN_TYPES,
    TASK_INSTANCE_STATES,
    DagRunState,
    DagRunType,
    TaskInstanceState,
)
from tradewind.client._models import DagRun, TaskInstance, TaskInstanceTry, TaskStateEntry, XCom


def request_id() -> str:
    """A fresh id for a mutating request, so that retries of it are recognised as one."""
    return str(uuid.uuid4())


def object_json(value: Mapping[str, Any] | None, name: str) -> str:
    """The JSON text of a dict argument (a run's conf, an event's extra); "" for none.

    Raises:
        ValueError: ``value`` is not a mapping, or holds values JSON cannot encode.

    """
    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a dict (a JSON object), not {type(value).__name__}")
    try:
        return json.dumps(dict(value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} cannot be encoded as JSON: {err}") from err


def conf_json(conf: Mapping[str, Any] | None) -> str:
    """The JSON text of a run's conf; "" for none (see :func:`object_json`)."""
    return object_json(conf, "conf")


def timestamp(moment: datetime, name: str) -> Timestamp:
    """A Timestamp of an aware datetime.

    Raises:
        ValueError: ``moment`` has no time zone (which one was meant is unknown).

    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class RunMethods(ClientBase):
    """DAG runs, task instances, tries and XCom."""

    # ---- DAG runs ----

    async def trigger(
        self,
        dag_id: str,
        *,
        conf: Mapping[str, Any] | None = None,
        run_id: str = "",
        logical_date: datetime | None = None,
        note: str = "",
        partition_key: str = "",
    ) -> DagRun:
        """Create a manual run of a DAG.

        Every call sends a fresh request id, so the channel's automatic retries never create
        two runs.

        Args:
            dag_id: the DAG.
            conf: a JSON object merged over the DAG's params.
            run_id: the run's id; empty for ``manual__<logical date>``.
            logical_date: an aware datetime; None for now.
            note: a note attached to the run.
            partition_key: the partition the run is for; its date is decoded by the DAG's
                timetable.

        Returns:
            The run, queued.

        Raises:
            ValueError: ``conf`` is not a dict or not JSON-encodable; a naive logical date.
            NotFoundError: no such DAG.
            AlreadyExistsError: the run id or logical date is taken.
            InvalidArgumentError: the partition key does not fit the DAG's timetable.

        """
        request = rr.TriggerDagRunRequest(
            dag_id=dag_id,
            run_id=run_id,
            conf_json=conf_json(conf),
            note=note,
            request_id=request_id(),
            partition_key=partition_key,
        )
        if logical_date is not None:
            request.logical_date.CopyFrom(timestamp(logical_date, "logical_date"))
        response = await self._call(self._stub.TriggerDagRun, request)
        return DagRun.from_proto(response.dag_run)

    def dag_runs(
        self,
        dag_id: str = "",
        *,
        states: Collection[DagRunState | str] = (),
        run_types: Collection[DagRunType | str] = (),
        logical_date_gte: datetime | None = None,
        logical_date_lt: datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[DagRun]:
        """Iterate over runs, newest logical date first.

        Args:
            dag_id: only runs of this DAG; empty for every DAG.
            states: only runs in these states.
            run_types: only runs of these types.
            logical_date_gte: only runs with a logical date at or after this.
            logical_date_lt: only runs with a logical date before this.
            page_size: runs per request.

        Returns:
            An async iterator of :class:`DagRun`.

        Raises:
            ValueError: an unknown state or run type.

        """
        request = rr.ListDagRunsRequest(
            page_size=page_size,
            dag_id=dag_id,
            states=[DAG_RUN_STATES.to_proto(s) for s in states],
            run_types=[DAG_RUN_TYPES.to_proto(t) for t in run_types],
        )
        if logical_date_gte is not None:
            request.logical_date_gte.CopyFrom(timestamp(logical_date_gte, "logical_date_gte"))
        if logical_date_lt is not None:
            request.logical_date_lt.CopyFrom(timestamp(logical_date_lt, "logical_date_lt"))
        return self._pages(self._stub.ListDagRuns, request, lambda r: r.dag_runs, DagRun.from_proto)

    async def get_dag_run(self, dag_id: str, run_id: str) -> DagRun:
        """Describe one run with counts of its task instances by state.

        Args:
            dag_id: the DAG.
            run_id: the run.

        Returns:
            The run.

        Raises:
            NotFoundError: no such run.

        """
        response = await self._call(
            self._stub.GetDagRun,
            rr.GetDagRunRequest(key=run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id)),
        )
        return DagRun.from_proto(response.dag_run)

    async def set_dag_run_state(
        self, dag_id: str, run_id: str, state: DagRunState | str, *, note: str = ""
    ) -> DagRun:
        """Mark a run success or failed (its unfinished task instances follow), or queue it again.

        Args:
            dag_id: the DAG.
            run_id: the run.
            state: success, failed or queued.
            note: a note attached to the run.

        Returns:
            The run after the change.

        Raises:
            NotFoundError: no such run.
            InvalidArgumentError: a state other than success, failed or queued.

        """
        response = await self._call(
            self._stub.SetDagRunState,
            rr.SetDagRunStateRequest(
                key=run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id),
                state=DAG_RUN_STATES.to_proto(state),
                note=note,
                request_id=request_id(),
            ),
        )
        return DagRun.from_proto(response.dag_run)

    async def delete_dag_run(self, dag_id: str, run_id: str, *, missing_ok: bool = False) -> None:
        """Delete one run with its task instances, XCom and logs.

        Args:
            dag_id: the DAG.
            run_id: the run.
            missing_ok: succeed when it does not exist.

        Raises:
            NotFoundError: no such run and not ``missing_ok``.

        """
        await self._call(
            self._stub.DeleteDagRun,
            rr.DeleteDagRunRequest(
                key=run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id), allow_missing=missing_ok
            ),
        )

    # ---- Task instances ----

    def task_instances(
        self,
        dag_id: str = "",
        run_id: str = "",
        *,
        task_ids: Collection[str] = (),
        states: Collection[TaskInstanceState | str] = (),
        pool: str = "",
        queue: str = "",
        map_index: int | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[TaskInstance]:
        """Iterate over task instances (a mapped task's one per map index).

        Args:
            dag_id: only those of this DAG; empty for every DAG.
            run_id: only those of this run; empty for every run.
            task_ids: only those of these tasks.
            states: only those in these states.
            pool: only those of this pool.
            queue: only those of this queue.
            map_index: only those with this map index (-1: tasks that are not mapped).
            page_size: task instances per request.

        Returns:
            An async iterator of :class:`TaskInstance`.

        Raises:
            ValueError: an unknown state.
            NotFoundError: no such DAG.

        """
        request = rr.ListTaskInstancesRequest(
            page_size=page_size,
            dag_id=dag_id,
            run_id=run_id,
            task_ids=list(task_ids),
            states=[TASK_INSTANCE_STATES.to_proto(s) for s in states],
            pool=pool,
            queue=queue,
            map_index=map_index,
        )
        return self._pages(
            self._stub.ListTaskInstances,
            request,
            lambda r: r.task_instances,
            TaskInstance.from_proto,
        )

    async def get_task_instance(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int | None = None
    ) -> TaskInstance:
        """Describe one task instance and its current try.

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: the task.
            map_index: the instance of a mapped task; None for a task that is not mapped.

        Returns:
            The task instance.

        Raises:
            NotFoundError: no such task instance (a mapped task's message names its map
                indexes).

        """
        response = await self._call(
            self._stub.GetTaskInstance,
            rr.GetTaskInstanceRequest(key=ti_key(dag_id, run_id, task_id, map_index)),
        )
        return TaskInstance.from_proto(response.task_instance)

    def task_instance_tries(
        self,
        dag_id: str,
        run_id: str = "",
        *,
        task_ids: Collection[str] = (),
        map_index: int | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[TaskInstanceTry]:
        """Iterate over the tries of a DAG's task instances, by run, task and try number.

        Args:
            dag_id: the DAG.
            run_id: only tries of this run; empty for every run.
            task_ids: only tries of these tasks.
            map_index: only tries of instances with this map index (-1: unmapped tasks).
            page_size: tries per request.

        Returns:
            An async iterator of :class:`TaskInstanceTry`.

        """
        request = rr.ListTaskInstanceTriesRequest(
            page_size=page_size,
            dag_id=dag_id,
            run_id=run_id,
            task_ids=list(task_ids),
            map_index=map_index,
        )
        return self._pages(
            self._stub.ListTaskInstanceTries,
            request,
            lambda r: r.tries,
            TaskInstanceTry.from_proto,
        )

    async def clear_task_instances(
        self,
        dag_id: str,
        *,
        run_id: str = "",
        task_ids: Collection[str] = (),
        upstream: bool = False,
        downstream: bool = False,
        only_failed: bool = False,
        logical_date_gte: datetime | None = None,
        logical_date_lt: datetime | None = None,
        dry_run: bool = False,
        map_indexes: Collection[int] = (),
        include_dependent_dags: bool = False,
    ) -> list[TaskInstance]:
        """Reset task instances so that they run again (Airflow's "clear").

        Clearing every instance of a mapped task expands it again when it next runs.

        Args:
            dag_id: the DAG.
            run_id: only this run; empty for every run in the date range.
            task_ids: only these tasks; empty for every task.
            map_indexes: only these map indexes of the tasks in ``task_ids``.
            upstream: also their upstream tasks.
            downstream: also their downstream tasks.
            only_failed: only failed and upstream_failed task instances.
            logical_date_gte: only runs with a logical date at or after this.
            logical_date_lt: only runs with a logical date before this.
            dry_run: change nothing; return what would be cleared.
            include_dependent_dags: follow ExternalTaskMarkers into the DAGs they name.

        Returns:
            The task instances cleared (or that would be), as they were before.

        """
        request = rr.ClearTaskInstancesRequest(
            dag_id=dag_id,
            run_id=run_id,
            task_ids=list(task_ids),
            include_upstream=upstream,
            include_downstream=downstream,
            only_failed=only_failed,
            dry_run=dry_run,
            request_id=request_id(),
            map_indexes=sorted(map_indexes),
            include_dependent_dags=include_dependent_dags,
        )
        if logical_date_gte is not None:
            request.logical_date_gte.CopyFrom(timestamp(logical_date_gte, "logical_date_gte"))
        if logical_date_lt is not None:
            request.logical_date_lt.CopyFrom(timestamp(logical_date_lt, "logical_date_lt"))
        response = await self._call(self._stub.ClearTaskInstances, request)
        return [TaskInstance.from_proto(ti) for ti in response.task_instances]

    async def set_task_instance_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        state: TaskInstanceState | str,
        *,
        upstream: bool = False,
        downstream: bool = False,
        dry_run: bool = False,
        map_index: int | None = None,
    ) -> list[TaskInstance]:
        """Mark a task instance success, failed or skipped by hand (Airflow's "mark").

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: the task.
            state: success, failed or skipped.
            map_index: one instance of a mapped task; None marks every instance.
            upstream: also mark its upstream tasks.
            downstream: also mark its downstream tasks.
            dry_run: change nothing; return what would change.

        Returns:
            The task instances changed (or that would be), with their new state.

        Raises:
            ValueError: an unknown state.
            InvalidArgumentError: a state other than success, failed or skipped.
            NotFoundError: no such task instance.

        """
        response = await self._call(
            self._stub.SetTaskInstanceState,
            rr.SetTaskInstanceStateRequest(
                key=ti_key(dag_id, run_id, task_id, map_index),
                state=TASK_INSTANCE_STATES.to_proto(state),
                include_upstream=upstream,
                include_downstream=downstream,
                dry_run=dry_run,
                request_id=request_id(),
            ),
        )
        return [TaskInstance.from_proto(ti) for ti in response.task_instances]

    async def task_state(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int | None = None
    ) -> list[TaskStateEntry]:
        """The keys a task instance kept with ``task_state_store`` (expired ones left out).

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: the task.
            map_index: the instance of a mapped task; None for a task that is not mapped.

        Returns:
            The entries, by key.

        Raises:
            NotFoundError: no such task instance.

        """
        response = await self._call(
            self._stub.ListTaskState,
            rr.ListTaskStateRequest(key=ti_key(dag_id, run_id, task_id, map_index)),
        )
        return [TaskStateEntry.from_proto(entry) for entry in response.entries]

    # ---- XCom ----

    def xcoms(
        self,
        dag_id: str,
        run_id: str,
        *,
        task_id: str = "",
        map_index: int | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[XCom]:
        """Iterate over the XCom values of a run, or of one task of it.

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: only this task's values; empty for every task.
            map_index: only values of instances with this map index (-1: unmapped tasks).
            page_size: values per request.

        Returns:
            An async iterator of :class:`XCom`.

        Raises:
            NotFoundError: no such run.

        """
        request = rr.ListXComsRequest(
            dag_id=dag_id, run_id=run_id, task_id=task_id, page_size=page_size, map_index=map_index
        )
        return self._pages(self._stub.ListXComs, request, lambda r: r.xcoms, XCom.from_proto)
