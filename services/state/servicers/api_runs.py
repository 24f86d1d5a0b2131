"""ApiService, the runs half: DAG runs, task instances, tries, logs, XCom."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from grpc import aio

from core.proto_enums import DAG_RUN_STATES, DAG_RUN_TYPES, TASK_INSTANCE_STATES
from core.states import MARKABLE, RUN_SETTABLE
from protos.api.v1 import request_response_pb2 as rr
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import to_datetime
from services.state.clock import utcnow
from services.state.convert import (
    log_to_proto,
    run_to_proto,
    task_state_to_proto,
    ti_to_proto,
    try_to_proto,
    xcom_to_proto,
)
from services.state.services import StateServices
from services.state.store import deferral, execution, markers, runs, task_instances, task_state
from services.state.store.runs import run_counts
from services.state.store.task_instances import TaskInstanceKey
from services.state.validation import (
    check_partition_key,
    enum_name,
    identifier,
    json_object,
    map_index_of,
    optional_identifier,
    optional_map_index,
)

#: Log lines per read when the caller does not say.
DEFAULT_LOG_LINES = 1000
#: How often a followed log is checked for new lines.
LOG_FOLLOW_SECONDS = 0.25


def check_ti_key(key: run_pb2.TaskInstanceKey, field: str = "key") -> TaskInstanceKey:
    """Refuse a task instance key with a missing or malformed part."""
    return TaskInstanceKey(
        identifier(key.dag_id, f"{field}.dag_id"),
        identifier(key.run_id, f"{field}.run_id"),
        identifier(key.task_id, f"{field}.task_id"),
        map_index_of(key, f"{field}.map_index"),
    )


def map_indexes(request: rr.ClearTaskInstancesRequest) -> tuple[int, ...]:
    """The map indexes a clear names, refusing negative ones and a list without tasks."""
    indexes = tuple(sorted(set(request.map_indexes)))
    if any(index < 0 for index in indexes):
        raise InvalidArgument("map_indexes", "must be map indexes (0 or more)")
    if indexes and not request.task_ids:
        raise InvalidArgument("map_indexes", "needs task_ids: the tasks whose instances to clear")
    return indexes


def check_run_key(key: run_pb2.DagRunKey, field: str = "key") -> run_pb2.DagRunKey:
    """Refuse a run key with a missing or malformed part."""
    identifier(key.dag_id, f"{field}.dag_id")
    identifier(key.run_id, f"{field}.run_id")
    return key


class RunsApi:
    """The run RPCs of ApiService (mixed into ApiServicer)."""

    _services: StateServices

    async def TriggerDagRun(
        self, request: rr.TriggerDagRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.TriggerDagRunResponse:
        """Create a manual run."""
        dag_id = identifier(request.dag_id, "dag_id")
        run_id = optional_identifier(request.run_id, "run_id")
        conf_json = json_object(request.conf_json, "conf_json")
        request_id = optional_identifier(request.request_id, "request_id")
        partition_key = request.partition_key
        if partition_key:
            check_partition_key(partition_key, "partition_key")
        now = utcnow()
        logical_date = to_datetime(request, "logical_date") or now

        def write(session: Any) -> tuple[run_pb2.DagRun, bool]:
            run, created = runs.trigger_dag_run(
                session,
                dag_id,
                run_id=run_id,
                logical_date=logical_date,
                conf_json=conf_json,
                note=request.note,
                request_id=request_id,
                now=now,
                partition_key=partition_key,
            )
            return run_to_proto(run, run_counts(session, run.id)), created

        dag_run, created = await self._services.write(write, name="trigger_dag_run")
        return rr.TriggerDagRunResponse(dag_run=dag_run, created=created)

    async def ListDagRuns(
        self, request: rr.ListDagRunsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListDagRunsResponse:
        """A page of runs."""
        run_filter = runs.RunFilter(
            dag_id=optional_identifier(request.dag_id, "dag_id"),
            states=tuple(sorted(enum_name(s, DAG_RUN_STATES, "states") for s in request.states)),
            run_types=tuple(
                sorted(enum_name(t, DAG_RUN_TYPES, "run_types") for t in request.run_types)
            ),
            logical_date_gte=to_datetime(request, "logical_date_gte"),
            logical_date_lt=to_datetime(request, "logical_date_lt"),
        )
        page = self._services.pages.request(
            "ListDagRuns",
            request.page_size,
            request.page_token,
            {
                "dag_id": run_filter.dag_id,
                "states": list(run_filter.states),
                "run_types": list(run_filter.run_types),
                "gte": str(run_filter.logical_date_gte),
                "lt": str(run_filter.logical_date_lt),
            },
        )
        found = await self._services.read(
            lambda s: runs.list_runs(s, run_filter, page).map(
                lambda r: run_to_proto(r.run, r.counts)
            ),
            name="list_runs",
        )
        return rr.ListDagRunsResponse(dag_runs=found.items, **self._services.pages.fields(found))

    async def GetDagRun(
        self, request: rr.GetDagRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetDagRunResponse:
        """One run with its task instance counts."""
        key = check_run_key(request.key)

        def read(session: Any) -> run_pb2.DagRun:
            run = runs.get_run(session, key.dag_id, key.run_id)
            return run_to_proto(run, run_counts(session, run.id))

        return rr.GetDagRunResponse(dag_run=await self._services.read(read, name="get_run"))

    async def SetDagRunState(
        self, request: rr.SetDagRunStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetDagRunStateResponse:
        """Mark a run, or queue it again."""
        key = check_run_key(request.key)
        state = enum_name(request.state, DAG_RUN_STATES, "state", RUN_SETTABLE)
        now = utcnow()

        def write(session: Any) -> run_pb2.DagRun:
            run = runs.set_run_state(session, key.dag_id, key.run_id, state, request.note, now)
            session.flush()
            return run_to_proto(run, run_counts(session, run.id))

        return rr.SetDagRunStateResponse(
            dag_run=await self._services.write(write, name="set_run_state")
        )

    async def DeleteDagRun(
        self, request: rr.DeleteDagRunRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteDagRunResponse:
        """Delete a run and everything of it."""
        key = check_run_key(request.key)
        await self._services.write(
            lambda s: runs.delete_run(s, key.dag_id, key.run_id, request.allow_missing),
            name="delete_run",
        )
        return rr.DeleteDagRunResponse()

    async def ListTaskInstances(
        self, request: rr.ListTaskInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListTaskInstancesResponse:
        """A page of task instances."""
        selection = task_instances.TaskInstanceFilter(
            dag_id=optional_identifier(request.dag_id, "dag_id"),
            run_id=optional_identifier(request.run_id, "run_id"),
            task_ids=tuple(sorted(request.task_ids)),
            states=tuple(
                sorted(enum_name(s, TASK_INSTANCE_STATES, "states") for s in request.states)
            ),
            pool=request.pool,
            queue=request.queue,
            map_index=optional_map_index(request, "map_index"),
        )
        page = self._services.pages.request(
            "ListTaskInstances", request.page_size, request.page_token, asdict(selection)
        )

        def listing(session: Any) -> Any:
            found = task_instances.list_task_instances(session, selection, page)
            triggers = deferral.triggers_of(session, found.items)
            return found.map(lambda ti: ti_to_proto(ti, triggers.get(ti.id)))

        found = await self._services.read(listing, name="list_task_instances")
        return rr.ListTaskInstancesResponse(
            task_instances=found.items, **self._services.pages.fields(found)
        )

    async def GetTaskInstance(
        self, request: rr.GetTaskInstanceRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetTaskInstanceResponse:
        """One task instance."""
        key = check_ti_key(request.key)

        def get(session: Any) -> run_pb2.TaskInstance:
            row = task_instances.get_ti(session, key)
            return ti_to_proto(row, deferral.triggers_of(session, [row]).get(row.id))

        ti = await self._services.read(get, name="get_task_instance")
        return rr.GetTaskInstanceResponse(task_instance=ti)

    async def ListTaskInstanceTries(
        self, request: rr.ListTaskInstanceTriesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListTaskInstanceTriesResponse:
        """A page of try records."""
        dag_id = identifier(request.dag_id, "dag_id")
        run_id = optional_identifier(request.run_id, "run_id")
        task_ids = sorted(request.task_ids)
        map_index = optional_map_index(request, "map_index")
        page = self._services.pages.request(
            "ListTaskInstanceTries",
            request.page_size,
            request.page_token,
            {"dag_id": dag_id, "run_id": run_id, "task_ids": task_ids, "map_index": map_index},
        )
        found = await self._services.read(
            lambda s: task_instances.list_tries(
                s, dag_id, run_id, task_ids, page, map_index=map_index
            ).map(try_to_proto),
            name="list_tries",
        )
        return rr.ListTaskInstanceTriesResponse(
            tries=found.items, **self._services.pages.fields(found)
        )

    async def ClearTaskInstances(
        self, request: rr.ClearTaskInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ClearTaskInstancesResponse:
        """Make task instances run again."""
        selection = task_instances.Selection(
            dag_id=identifier(request.dag_id, "dag_id"),
            run_id=optional_identifier(request.run_id, "run_id"),
            task_ids=tuple(request.task_ids),
            include_upstream=request.include_upstream,
            include_downstream=request.include_downstream,
            only_failed=request.only_failed,
            logical_date_gte=to_datetime(request, "logical_date_gte"),
            logical_date_lt=to_datetime(request, "logical_date_lt"),
            with_setups_and_teardowns=True,
            map_indexes=map_indexes(request),
        )
        now = utcnow()

        def clear(session: Any) -> list[run_pb2.TaskInstance]:
            chosen = task_instances.selected(session, selection)
            if request.include_dependent_dags:
                chosen += markers.dependent_task_instances(session, chosen)
            before = [ti_to_proto(ti) for _, tis in chosen for ti in tis]
            if not request.dry_run:
                task_instances.clear(session, chosen, now)
            return before

        run_write = self._services.read if request.dry_run else self._services.write
        cleared = await run_write(clear, name="clear_task_instances")
        return rr.ClearTaskInstancesResponse(task_instances=cleared)

    async def SetTaskInstanceState(
        self, request: rr.SetTaskInstanceStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetTaskInstanceStateResponse:
        """Mark task instances by hand."""
        key = check_ti_key(request.key)
        state = enum_name(request.state, TASK_INSTANCE_STATES, "state", MARKABLE)
        selection = task_instances.Selection(
            dag_id=key.dag_id,
            run_id=key.run_id,
            task_ids=(key.task_id,),
            include_upstream=request.include_upstream,
            include_downstream=request.include_downstream,
            map_indexes=(key.map_index,) if key.map_index >= 0 else (),
        )
        now = utcnow()

        def mark(session: Any) -> list[run_pb2.TaskInstance]:
            chosen = task_instances.selected(session, selection)
            if key.map_index >= 0 or not chosen:
                task_instances.get_ti(session, key)  # NotFound naming what is missing
            ((run, tis),) = chosen
            changed = [ti for ti in tis if ti.state != state]
            if request.dry_run:
                views = [ti_to_proto(ti) for ti in changed]
                for view in views:
                    view.state = TASK_INSTANCE_STATES.to_proto(state)
                return views
            task_instances.mark(session, run, changed, state, now, task_id=key.task_id)
            return [ti_to_proto(ti) for ti in changed]

        run_write = self._services.read if request.dry_run else self._services.write
        changed = await run_write(mark, name="set_task_instance_state")
        return rr.SetTaskInstanceStateResponse(task_instances=changed)

    async def GetTaskInstanceLogs(
        self, request: rr.GetTaskInstanceLogsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetTaskInstanceLogsResponse:
        """Log lines of one try."""
        key = check_ti_key(request.key)
        if request.try_number < 0:
            raise InvalidArgument("try_number", "must not be negative")
        limit = min(request.max_lines or DEFAULT_LOG_LINES, DEFAULT_LOG_LINES)
        found = await self._services.read(
            lambda s: execution.read_logs(
                s, key, request.try_number, request.after_sequence, limit
            ),
            name="read_logs",
        )
        return rr.GetTaskInstanceLogsResponse(
            lines=[log_to_proto(line) for line in found.lines],
            try_number=found.try_number,
            complete=found.complete,
        )

    async def WatchTaskInstanceLogs(
        self, request: rr.WatchTaskInstanceLogsRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[rr.WatchTaskInstanceLogsResponse]:
        """Follow the log of one try until the try ends."""
        key = check_ti_key(request.key)
        if request.try_number < 0:
            raise InvalidArgument("try_number", "must not be negative")
        after = request.after_sequence
        number = request.try_number
        stopping = self._services.shutting_down
        while not stopping.is_set():
            lines, found, complete = await self._read_logs(key, number, after)
            number = number or found
            if lines:
                after = lines[-1].sequence
            if lines or complete:
                yield rr.WatchTaskInstanceLogsResponse(
                    lines=lines, try_number=number, complete=complete
                )
            if complete:
                return
            if not lines:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), LOG_FOLLOW_SECONDS)

    async def _read_logs(
        self, key: TaskInstanceKey, number: int, after: int
    ) -> tuple[list[run_pb2.LogLine], int, bool]:
        found = await self._services.read(
            lambda s: execution.read_logs(s, key, number, after, DEFAULT_LOG_LINES),
            name="read_logs",
        )
        return [log_to_proto(line) for line in found.lines], found.try_number, found.complete

    async def ListXComs(
        self, request: rr.ListXComsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListXComsResponse:
        """A page of a run's XComs."""
        dag_id = identifier(request.dag_id, "dag_id")
        run_id = identifier(request.run_id, "run_id")
        task_id = optional_identifier(request.task_id, "task_id")
        map_index = optional_map_index(request, "map_index")
        page = self._services.pages.request(
            "ListXComs",
            request.page_size,
            request.page_token,
            {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index},
        )
        found = await self._services.read(
            lambda s: execution.list_xcoms(
                s, dag_id, run_id, task_id, page, map_index=map_index
            ).map(xcom_to_proto),
            name="list_xcoms",
        )
        return rr.ListXComsResponse(xcoms=found.items, **self._services.pages.fields(found))

    async def ListTaskState(
        self, request: rr.ListTaskStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListTaskStateResponse:
        """The live task state store keys of one task instance."""
        key = check_ti_key(request.key)
        now = utcnow()
        entries = await self._services.read(
            lambda s: [
                task_state_to_proto(row, key) for row in task_state.list_task_state(s, key, now)
            ],
            name="list_task_state",
        )
        return rr.ListTaskStateResponse(entries=entries)
