"""ExecutorService: leases, heartbeats, results and logs of tries."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from typing import Any

from grpc import aio

from core.proto_enums import DAG_RUN_TYPES, TRY_OUTCOMES, ProtoEnum
from core.states import REPORTABLE_OUTCOMES, TryOutcome
from protos.enums.v1 import event_pb2, task_instance_pb2, transition_pb2
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.executor.v1 import request_response_pb2 as rr
from protos.executor.v1 import service_pb2_grpc
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.errors import InvalidArgument, LeaseLost
from services.runtime.protoconv import optional_duration, timestamp, to_datetime, to_seconds
from services.state.clock import utcnow
from services.state.convert import ti_to_proto
from services.state.metrics import ASSET_EVENTS, LEASES
from services.state.services import StateServices
from services.state.store import assets, execution
from services.state.store.deferral import Deferral
from services.state.store.execution import LeaseStatus, TryLease
from services.state.store.transitions import TryEnding
from services.state.validation import (
    check_partition_key,
    identifier,
    json_object,
    json_value,
    map_index_of,
    positive_seconds,
)

#: The longest rendered map index name kept (Airflow caps it at 250 characters too).
RENDERED_MAP_INDEX_LENGTH = 250
#: The longest a LeaseTaskInstances call waits for work.
MAX_WAIT_SECONDS = 60.0
QUEUED = task_instance_pb2.TASK_INSTANCE_STATE_QUEUED
LEASE_STATUSES = ProtoEnum(LeaseStatus, transition_pb2.LeaseStatus, "LEASE_STATUS_")


def check_lease(lease: run_pb2.TryLease, field: str) -> TryLease:
    """The try lease of a request, refusing a malformed one."""
    if lease.try_number <= 0:
        raise InvalidArgument(f"{field}.try_number", "must be positive")
    if not lease.lease_id:
        raise InvalidArgument(f"{field}.lease_id", "is required")
    return TryLease(
        identifier(lease.key.dag_id, f"{field}.key.dag_id"),
        identifier(lease.key.run_id, f"{field}.key.run_id"),
        identifier(lease.key.task_id, f"{field}.key.task_id"),
        lease.try_number,
        lease.lease_id,
        map_index_of(lease.key, f"{field}.key.map_index"),
    )


def lease_message(lease: TryLease) -> run_pb2.TryLease:
    """The contract's message of a try lease."""
    return run_pb2.TryLease(
        key=run_pb2.TaskInstanceKey(
            dag_id=lease.dag_id,
            run_id=lease.run_id,
            task_id=lease.task_id,
            map_index=lease.map_index if lease.map_index >= 0 else None,
        ),
        try_number=lease.try_number,
        lease_id=lease.lease_id,
    )


def leased_message(leased: execution.LeasedTry) -> executor_pb2.LeasedTry:
    """The contract's message of a try just leased."""
    ti, run = leased.ti, leased.run
    return executor_pb2.LeasedTry(
        lease=lease_message(leased.lease),
        lease_expires_at=timestamp(leased.expires_at),
        max_tries=ti.max_tries,
        operator=ti.operator,
        queue=ti.queue,
        pool=ti.pool,
        execution_timeout=optional_duration(leased.execution_timeout),
        run_as_user=leased.run_as_user,
        relative_fileloc=leased.dag.relative_fileloc if leased.dag is not None else "",
        dag_content_hash=run.dag_content_hash,
        run_type=DAG_RUN_TYPES.to_proto(run.run_type),
        logical_date=timestamp(run.logical_date),
        data_interval_start=timestamp(run.data_interval_start),
        data_interval_end=timestamp(run.data_interval_end),
        conf_json=run.conf_json,
        run_start_date=timestamp(run.start_date),
        queued_at=timestamp(ti.queued_at),
        next_method=ti.next_method,
        next_kwargs_json=ti.next_kwargs_json,
        first_reschedule_date=timestamp(ti.first_reschedule_at),
        task_reschedule_count=ti.reschedule_count,
        partition_key=run.partition_key or "",
        partition_date=timestamp(run.partition_date),
    )


def outlet_reports(request: rr.CompleteTaskInstanceRequest) -> list[assets.OutletReport]:
    """Check what a completion says about its outlets; only a success's count."""
    if request.outcome != task_instance_pb2.TRY_OUTCOME_SUCCESS:
        return []
    reports = []
    for index, event in enumerate(request.outlet_events):
        where = f"outlet_events[{index}]"
        if not event.asset.name or not event.asset.uri:
            raise InvalidArgument(f"{where}.asset", "needs the asset's name and uri")
        if event.partition_keys and event.source_alias_name:
            raise InvalidArgument(
                f"{where}.partition_keys", "cannot be set on an event through an alias"
            )
        for key in event.partition_keys:
            check_partition_key(key, f"{where}.partition_keys")
        reports.append(
            assets.OutletReport(
                asset=event.asset,
                extra_json=json_object(event.extra_json, f"{where}.extra_json"),
                source_alias_name=event.source_alias_name,
                partition_keys=tuple(event.partition_keys),
            )
        )
    return reports


def deferral_of(request: rr.CompleteTaskInstanceRequest) -> Deferral | None:
    """The deferral a DEFERRED result carries, refusing a malformed one."""
    if not request.HasField("deferral"):
        raise InvalidArgument("deferral", "is required with outcome DEFERRED")
    message = request.deferral
    if not message.trigger_classpath or "." not in message.trigger_classpath:
        raise InvalidArgument(
            "deferral.trigger_classpath", "must name the trigger's class as module.ClassName"
        )
    if not message.next_method.isidentifier():
        raise InvalidArgument("deferral.next_method", "must be the name of the task's method")
    for field in ("trigger_kwargs_json", "next_kwargs_json"):
        text = getattr(message, field)
        if text and not isinstance(json_value(text, f"deferral.{field}"), dict):
            raise InvalidArgument(f"deferral.{field}", "must be a JSON object")
    timeout = to_seconds(message, "timeout")
    if timeout is not None and timeout < 0:
        raise InvalidArgument("deferral.timeout", "must not be negative")
    return Deferral(
        trigger_classpath=message.trigger_classpath,
        trigger_kwargs_json=message.trigger_kwargs_json or "{}",
        next_method=message.next_method,
        next_kwargs_json=message.next_kwargs_json,
        timeout=timedelta(seconds=timeout) if timeout is not None else None,
    )


def log_chunk(chunk: executor_pb2.TryLogChunk, field: str) -> execution.LogChunk:
    """A log chunk of a request, refusing a malformed one."""
    lease = check_lease(chunk.lease, f"{field}.lease")
    if chunk.chunk_index <= 0:
        raise InvalidArgument(f"{field}.chunk_index", "must be positive")
    return execution.LogChunk(
        lease=lease,
        chunk_index=chunk.chunk_index,
        lines=[
            execution.LogLine(
                timestamp=to_datetime(line, "timestamp"),
                stream=int(line.stream),
                level=line.level,
                message=line.message,
            )
            for line in chunk.lines
        ],
    )


class ExecutorServicer(service_pb2_grpc.ExecutorServiceServicer):
    """What executor replicas call."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def LeaseTaskInstances(
        self, request: rr.LeaseTaskInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.LeaseTaskInstancesResponse:
        """Lease queued tries; long-poll until some are queued or the wait is over."""
        executor_id = identifier(request.executor_id, "executor_id")
        if request.max_leases <= 0:
            raise InvalidArgument("max_leases", "must be positive")
        seconds = positive_seconds(to_seconds(request, "lease_duration"), "lease_duration")
        wait = min(max(0.0, to_seconds(request, "wait") or 0.0), MAX_WAIT_SECONDS)
        queues = sorted(set(request.queues)) or ["default"]
        hostname = request.hostname or socket.gethostname()
        hub = self._services.hub
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        wanted = frozenset(queues)

        def queued_here(event: Any) -> bool:
            return bool(
                event.type == event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED
                and event.task_instance_state == QUEUED
                and event.queue in wanted
            )

        duration = timedelta(seconds=seconds)

        def lease(session: Any) -> list[executor_pb2.LeasedTry]:
            granted = execution.lease_task_instances(
                session, executor_id, queues, request.max_leases, duration, hostname, utcnow()
            )
            return [leased_message(leased) for leased in granted]

        while True:
            cursor = hub.latest
            tries = await self._services.write(lease, name="lease_task_instances")
            remaining = deadline - loop.time()
            if tries or remaining <= 0 or self._services.shutting_down.is_set():
                LEASES.labels("task", "granted").inc(len(tries))
                return rr.LeaseTaskInstancesResponse(tries=tries)
            await hub.wait_for(queued_here, after=cursor, within=remaining)

    async def HeartbeatTaskInstances(
        self, request: rr.HeartbeatTaskInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.HeartbeatTaskInstancesResponse:
        """Renew leases of running tries."""
        executor_id = identifier(request.executor_id, "executor_id")
        seconds = positive_seconds(to_seconds(request, "lease_duration"), "lease_duration")
        beats = [
            execution.Heartbeat(
                lease=check_lease(beat.lease, f"heartbeats[{index}].lease"),
                pid=beat.pid,
                hostname=beat.hostname,
                process_started_at=to_datetime(beat, "process_started_at"),
            )
            for index, beat in enumerate(request.heartbeats)
        ]
        now = utcnow()
        outcomes = await self._services.write(
            lambda s: execution.heartbeat(s, executor_id, beats, timedelta(seconds=seconds), now),
            name="heartbeat",
        )
        lost = sum(1 for o in outcomes if o.status is LeaseStatus.LOST)
        LEASES.labels("task", "renewed").inc(len(outcomes) - lost)
        LEASES.labels("task", "refused").inc(lost)
        return rr.HeartbeatTaskInstancesResponse(
            outcomes=[
                executor_pb2.TryHeartbeatOutcome(
                    lease=lease_message(o.lease),
                    status=LEASE_STATUSES.to_proto(o.status),
                    lease_expires_at=timestamp(o.expires_at),
                )
                for o in outcomes
            ]
        )

    async def CompleteTaskInstance(
        self, request: rr.CompleteTaskInstanceRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.CompleteTaskInstanceResponse:
        """Apply a try's result, refused once its lease is lost."""
        executor_id = identifier(request.executor_id, "executor_id")
        lease = check_lease(request.lease, "lease")
        if request.outcome not in TRY_OUTCOMES:
            raise InvalidArgument("outcome", "must be set")
        outcome = TRY_OUTCOMES.member(request.outcome)
        if outcome not in REPORTABLE_OUTCOMES:
            raise InvalidArgument("outcome", f"{outcome} is decided by the scheduler, not reported")
        final_log = None
        if request.HasField("final_log"):
            if request.final_log.lease != request.lease:
                raise InvalidArgument("final_log.lease", "must be the completed try's lease")
            final_log = log_chunk(request.final_log, "final_log")
        xcoms = []
        for index, xcom in enumerate(request.xcoms):
            json_value(xcom.value_json, f"xcoms[{index}].value_json")
            xcoms.append((xcom.xcom_key or "return_value", xcom.value_json))
        now = utcnow()
        deferral = deferral_of(request) if outcome == TryOutcome.DEFERRED else None
        resume_at = None
        if outcome == TryOutcome.RESCHEDULED:
            resume_at = to_datetime(request, "reschedule_date")
            if resume_at is None:
                raise InvalidArgument("reschedule_date", "is required with outcome RESCHEDULED")
        completion = execution.Completion(
            executor_id=executor_id,
            lease=lease,
            ending=TryEnding(
                outcome=outcome,
                end_date=to_datetime(request, "end_date") or now,
                error_type=request.error.exception_type,
                error_message=request.error.message,
                error_traceback=request.error.traceback,
                final_log_chunk_index=max(
                    request.last_log_chunk_index, final_log.chunk_index if final_log else 0
                ),
                resume_at=resume_at,
            ),
            process_started_at=to_datetime(request, "start_date"),
            skip_task_ids=list(request.skip_task_ids),
            xcoms=xcoms,
            final_log=final_log,
            rendered_map_index=request.rendered_map_index[:RENDERED_MAP_INDEX_LENGTH],
            deferral=deferral,
            outlet_events=outlet_reports(request),
        )
        max_map_length = self._services.max_map_length
        clear_state = self._services.task_state_clear_on_success

        def write(session: Any) -> tuple[Any, int]:
            ti = execution.complete_task_instance(
                session,
                completion,
                now,
                max_map_length=max_map_length,
                clear_task_state_on_success=clear_state,
                multi_team=self._services.multi_team,
            )
            return ti_to_proto(ti), assets.events_recorded(session)

        try:
            task_instance, events = await self._services.write(write, name="complete_task_instance")
        except LeaseLost:
            LEASES.labels("task", "refused").inc()
            raise
        ASSET_EVENTS.labels(assets.ORIGIN_TASK).inc(events)
        return rr.CompleteTaskInstanceResponse(task_instance=task_instance)

    async def ReturnTaskInstances(
        self, request: rr.ReturnTaskInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReturnTaskInstancesResponse:
        """Put never-started tries back in the queue."""
        executor_id = identifier(request.executor_id, "executor_id")
        leases = [check_lease(lease, f"leases[{i}]") for i, lease in enumerate(request.leases)]
        now = utcnow()
        returned = await self._services.write(
            lambda s: execution.return_task_instances(s, executor_id, leases, now),
            name="return_task_instances",
        )
        return rr.ReturnTaskInstancesResponse(returned=returned)

    async def AppendTaskLogs(
        self, request: rr.AppendTaskLogsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.AppendTaskLogsResponse:
        """Store log chunks."""
        identifier(request.executor_id, "executor_id")
        chunks = [log_chunk(chunk, f"chunks[{i}]") for i, chunk in enumerate(request.chunks)]
        stored = await self._services.write(
            lambda s: execution.append_logs(s, chunks), name="append_logs"
        )
        return rr.AppendTaskLogsResponse(stored_lines=stored)
