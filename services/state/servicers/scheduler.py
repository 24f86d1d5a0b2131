"""SchedulerService: claims, schedules, snapshots and batched transitions for schedulers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grpc import aio

from protos.enums.v1 import task_instance_pb2
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from protos.scheduler.v1 import request_response_pb2 as rr
from protos.scheduler.v1 import service_pb2_grpc
from services.runtime.errors import InvalidArgument
from services.state import enums
from services.state.clock import utcnow
from services.state.convert import timestamp, to_seconds
from services.state.metrics import LEASES
from services.state.services import StateServices
from services.state.store import scheduling
from services.state.validation import enum_name, identifier, positive_seconds

TI_RUNNING = task_instance_pb2.TASK_INSTANCE_STATE_RUNNING


def check_transitions(request: rr.ApplyTransitionsRequest) -> None:
    """Refuse a batch with a malformed item (the whole batch fails, naming the item)."""
    for index, item in enumerate(request.task_instance_transitions):
        field = f"task_instance_transitions[{index}]"
        identifier(item.key.dag_id, f"{field}.key.dag_id")
        identifier(item.key.run_id, f"{field}.key.run_id")
        identifier(item.key.task_id, f"{field}.key.task_id")
        enum_name(item.expected_state, enums.TI_STATES, f"{field}.expected_state")
        enum_name(item.new_state, enums.TI_STATES, f"{field}.new_state")
        if item.outcome and item.outcome not in enums.OUTCOMES:
            raise InvalidArgument(f"{field}.outcome", "must be a known outcome")
    for index, run_item in enumerate(request.dag_run_transitions):
        field = f"dag_run_transitions[{index}]"
        identifier(run_item.key.dag_id, f"{field}.key.dag_id")
        identifier(run_item.key.run_id, f"{field}.key.run_id")
        enum_name(run_item.expected_state, enums.RUN_STATES, f"{field}.expected_state")
        enum_name(run_item.new_state, enums.RUN_STATES, f"{field}.new_state")


class SchedulerServicer(service_pb2_grpc.SchedulerServiceServicer):
    """What scheduler replicas call."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def ClaimDagRuns(
        self, request: rr.ClaimDagRunsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ClaimDagRunsResponse:
        """Renew and take claims on active runs."""
        scheduler_id = identifier(request.scheduler_id, "scheduler_id")
        if request.max_runs <= 0:
            raise InvalidArgument("max_runs", "must be positive")
        seconds = positive_seconds(to_seconds(request, "claim_duration"), "claim_duration")
        now = utcnow()
        claims, lost = await self._services.db.write(
            lambda s: scheduling.claim_dag_runs(
                s, scheduler_id, request.max_runs, timedelta(seconds=seconds), now
            ),
            name="claim_dag_runs",
        )
        LEASES.labels("run_claim", "granted").inc(len(claims))
        LEASES.labels("run_claim", "refused").inc(len(lost))
        return rr.ClaimDagRunsResponse(
            claims=[
                scheduler_pb2.DagRunClaim(
                    key=run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id),
                    expires_at=timestamp(run.claim_expires_at),
                )
                for run in claims
            ],
            lost=[run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id) for run in lost],
        )

    async def ReleaseDagRunClaims(
        self, request: rr.ReleaseDagRunClaimsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReleaseDagRunClaimsResponse:
        """Give claims back."""
        scheduler_id = identifier(request.scheduler_id, "scheduler_id")
        keys = list(request.keys)
        now = utcnow()
        released = await self._services.db.write(
            lambda s: scheduling.release_dag_run_claims(s, scheduler_id, keys, now),
            name="release_dag_run_claims",
        )
        return rr.ReleaseDagRunClaimsResponse(released=released)

    async def ListSchedulableDags(
        self, request: rr.ListSchedulableDagsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListSchedulableDagsResponse:
        """DAGs whose schedules the scheduler advances."""
        return await self._services.db.read(
            lambda s: scheduling.list_schedulable_dags(s, request), name="list_schedulable_dags"
        )

    async def GetDagDefinitions(
        self, request: rr.GetDagDefinitionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetDagDefinitionsResponse:
        """DAG versions by content hash."""
        hashes = list(request.content_hashes)
        dags = await self._services.db.read(
            lambda s: scheduling.dag_definitions(s, hashes), name="dag_definitions"
        )
        return rr.GetDagDefinitionsResponse(dags=dags)

    async def AdvanceDagSchedules(
        self, request: rr.AdvanceDagSchedulesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.AdvanceDagSchedulesResponse:
        """Create scheduled runs and move next-run pointers, one compare-and-set per step."""
        identifier(request.scheduler_id, "scheduler_id")
        for index, advance in enumerate(request.advances):
            identifier(advance.dag_id, f"advances[{index}].dag_id")
            if advance.HasField("run"):
                identifier(advance.run.run_id, f"advances[{index}].run.run_id")
        outcomes = []
        for advance in request.advances:
            outcomes.append(await self._advance(advance))
        return rr.AdvanceDagSchedulesResponse(outcomes=outcomes)

    async def _advance(
        self, advance: scheduler_pb2.ScheduleAdvance
    ) -> scheduler_pb2.ScheduleAdvanceOutcome:
        now = utcnow()
        return await self._services.db.write(
            lambda s: scheduling.advance_schedule(s, advance, now), name="advance_schedule"
        )

    async def GetSchedulingSnapshot(
        self, request: rr.GetSchedulingSnapshotRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetSchedulingSnapshotResponse:
        """The claimed runs with what deciding needs."""
        scheduler_id = identifier(request.scheduler_id, "scheduler_id")
        keys = list(request.keys)
        now = utcnow()
        return await self._services.db.read(
            lambda s: scheduling.scheduling_snapshot(s, scheduler_id, keys, now),
            name="scheduling_snapshot",
        )

    async def ApplyTransitions(
        self, request: rr.ApplyTransitionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ApplyTransitionsResponse:
        """Apply a batch of compare-and-set transitions."""
        identifier(request.scheduler_id, "scheduler_id")
        check_transitions(request)
        now = utcnow()
        response = await self._services.db.write(
            lambda s: scheduling.apply_transitions(s, request, now), name="apply_transitions"
        )
        expired = sum(
            1
            for item, outcome in zip(
                request.task_instance_transitions, response.task_instance_outcomes, strict=True
            )
            if outcome.applied and item.expected_state == TI_RUNNING
        )
        LEASES.labels("task", "expired").inc(expired)
        return response
