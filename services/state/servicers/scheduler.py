"""SchedulerService: claims, schedules, snapshots and batched transitions for schedulers."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from grpc import aio

from core.proto_enums import (
    DAG_RUN_STATES,
    DAG_RUN_TYPES,
    TASK_INSTANCE_STATES,
    TRY_OUTCOMES,
    ProtoEnum,
)
from core.states import DagRunType, TaskInstanceState
from protos.enums.v1 import transition_pb2
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from protos.scheduler.v1 import request_response_pb2 as rr
from protos.scheduler.v1 import service_pb2_grpc
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import timestamp, to_datetime, to_seconds
from services.state.clock import utcnow
from services.state.convert import (
    dag_to_proto,
    pending_partition_to_proto,
    pool_to_proto,
    queued_event_to_proto,
    queued_partition_event_to_proto,
    run_to_proto,
    ti_scheduling_view,
)
from services.state.metrics import ASSET_RUNS, LEASES
from services.state.services import StateServices
from services.state.store import apply, assets, partitions, scheduling
from services.state.store.admission import Refusal
from services.state.store.apply import Outcome, RunTransition, TaskInstanceTransition
from services.state.store.assets import AssetRunRequest, ConsumedKey
from services.state.store.runs import NewRun
from services.state.store.scheduling import NextRun, ScheduleAdvance
from services.state.validation import (
    check_partition_key,
    enum_name,
    identifier,
    json_object,
    map_index_of,
    non_negative,
    positive_seconds,
)

REFUSALS = ProtoEnum(Refusal, transition_pb2.TransitionRefusal, "TRANSITION_REFUSAL_")


def task_instance_transitions(request: rr.ApplyTransitionsRequest) -> list[TaskInstanceTransition]:
    """The task instance transitions of a batch, checked; a malformed item fails the batch."""
    items = []
    for index, item in enumerate(request.task_instance_transitions):
        field = f"task_instance_transitions[{index}]"
        if item.outcome and item.outcome not in TRY_OUTCOMES:
            raise InvalidArgument(f"{field}.outcome", "must be a known outcome")
        items.append(
            TaskInstanceTransition(
                dag_id=identifier(item.key.dag_id, f"{field}.key.dag_id"),
                run_id=identifier(item.key.run_id, f"{field}.key.run_id"),
                task_id=identifier(item.key.task_id, f"{field}.key.task_id"),
                map_index=map_index_of(item.key, f"{field}.key.map_index"),
                expected_state=enum_name(
                    item.expected_state, TASK_INSTANCE_STATES, f"{field}.expected_state"
                ),
                expected_try_number=item.expected_try_number,
                new_state=enum_name(item.new_state, TASK_INSTANCE_STATES, f"{field}.new_state"),
                expected_run_generation=item.expected_run_generation,
                outcome=TRY_OUTCOMES.from_proto(item.outcome),
                reason=item.reason,
                next_retry_at=to_datetime(item, "next_retry_at"),
                expand_to=non_negative(item.expand_to, f"{field}.expand_to"),
            )
        )
    return items


def run_transitions(request: rr.ApplyTransitionsRequest) -> list[RunTransition]:
    """The run transitions of a batch, checked; a malformed item fails the batch."""
    items = []
    for index, item in enumerate(request.dag_run_transitions):
        field = f"dag_run_transitions[{index}]"
        items.append(
            RunTransition(
                dag_id=identifier(item.key.dag_id, f"{field}.key.dag_id"),
                run_id=identifier(item.key.run_id, f"{field}.key.run_id"),
                expected_state=enum_name(
                    item.expected_state, DAG_RUN_STATES, f"{field}.expected_state"
                ),
                new_state=enum_name(item.new_state, DAG_RUN_STATES, f"{field}.new_state"),
                expected_run_generation=item.expected_run_generation,
            )
        )
    return items


def outcome_message(outcome: Outcome, *, of_run: bool) -> scheduler_pb2.TransitionOutcome:
    """The contract's message for one transition's outcome."""
    message = scheduler_pb2.TransitionOutcome(applied=outcome.applied)
    if outcome.refusal is not None:
        message.refusal = REFUSALS.to_proto(outcome.refusal)
    if outcome.actual_state is not None:
        if of_run:
            message.actual_dag_run_state = DAG_RUN_STATES.to_proto(outcome.actual_state)
        else:
            message.actual_task_instance_state = TASK_INSTANCE_STATES.to_proto(outcome.actual_state)
    if outcome.actual_try_number is not None:
        message.actual_try_number = outcome.actual_try_number
    return message


def schedule_advance(advance: scheduler_pb2.ScheduleAdvance, index: int) -> ScheduleAdvance:
    """One schedule step of a request, checked."""
    field = f"advances[{index}]"
    run = None
    if advance.HasField("run"):
        new = advance.run
        logical = to_datetime(new, "logical_date")
        if logical is None:
            raise InvalidArgument(f"{field}.run.logical_date", "is required")
        run = NewRun(
            run_id=identifier(new.run_id, f"{field}.run.run_id"),
            run_type=DAG_RUN_TYPES.member_or(new.run_type, DagRunType.SCHEDULED),
            logical_date=logical,
            data_interval_start=to_datetime(new, "data_interval_start"),
            data_interval_end=to_datetime(new, "data_interval_end"),
            conf_json=json_object(new.conf_json, f"{field}.run.conf_json"),
            partition_key=(
                check_partition_key(new.partition_key, f"{field}.run.partition_key")
                if new.partition_key
                else None
            ),
            partition_date=to_datetime(new, "partition_date") if new.partition_key else None,
        )
    following = None
    if advance.HasField("next"):
        moments = {
            name: to_datetime(advance.next, name)
            for name in ("logical_date", "data_interval_start", "data_interval_end", "create_after")
        }
        for name, moment in moments.items():
            if moment is None:
                raise InvalidArgument(f"{field}.next.{name}", "is required")
        following = NextRun(**moments)  # type: ignore[arg-type]
    return ScheduleAdvance(
        dag_id=identifier(advance.dag_id, f"{field}.dag_id"),
        expected_content_hash=advance.expected_content_hash,
        expected_next_logical_date=to_datetime(advance, "expected_next_logical_date"),
        run=run,
        run_content_hash=advance.run.dag_content_hash if advance.HasField("run") else "",
        next=following,
    )


def schedulable_message(item: scheduling.SchedulableDag) -> scheduler_pb2.SchedulableDag:
    """The contract's message of a DAG whose schedule advances."""
    latest = item.latest_scheduled
    return scheduler_pb2.SchedulableDag(
        dag=dag_to_proto(item.dag, item.definition),
        active_runs=item.active_runs,
        latest_scheduled_logical_date=timestamp(latest.logical_date if latest else None),
        latest_scheduled_data_interval_start=timestamp(
            latest.data_interval_start if latest else None
        ),
        latest_scheduled_data_interval_end=timestamp(latest.data_interval_end if latest else None),
        queued_asset_events=[queued_event_to_proto(q) for q in item.queued],
        queued_partition_events=[
            queued_partition_event_to_proto(q) for q in item.queued_partition_events
        ],
        pending_partitions=[pending_partition_to_proto(p) for p in item.pending_partitions],
    )


def partition_plan(message: scheduler_pb2.PartitionPlan, index: int) -> partitions.PartitionPlan:
    """Check one partitioned consumer's plan."""
    where = f"plans[{index}]"
    assignments = []
    seen_events: set[int] = set()
    for position, item in enumerate(message.assignments):
        field = f"{where}.assignments[{position}]"
        if item.asset_event_id <= 0:
            raise InvalidArgument(f"{field}.asset_event_id", "names no asset event")
        if item.asset_event_id in seen_events:
            raise InvalidArgument(f"{field}.asset_event_id", "is assigned twice in the plan")
        seen_events.add(item.asset_event_id)
        keys = tuple(
            check_partition_key(key, f"{field}.partition_keys") for key in item.partition_keys
        )
        if not keys and not item.rejection:
            raise InvalidArgument(field, "needs partition keys or a rejection")
        assignments.append(
            partitions.Assignment(
                item.asset_event_id,
                keys,
                to_datetime(item, "carried_partition_date"),
                item.rejection,
            )
        )
    runs = []
    seen_keys: set[str] = set()
    for position, run in enumerate(message.runs):
        field = f"{where}.runs[{position}]"
        event_ids = frozenset(run.received_event_ids)
        if not event_ids or len(event_ids) != run.expected_received:
            raise InvalidArgument(
                f"{field}.received_event_ids",
                "must name the expected_received events the partition received, each once",
            )
        key = check_partition_key(run.partition_key, f"{field}.partition_key")
        if key in seen_keys:
            raise InvalidArgument(f"{field}.partition_key", "is asked a run twice in the plan")
        seen_keys.add(key)
        runs.append(partitions.PlannedRun(key, event_ids, to_datetime(run, "partition_date")))
    if not assignments and not runs:
        raise InvalidArgument(where, "assigns no event and asks for no run")
    return partitions.PartitionPlan(
        identifier(message.dag_id, f"{where}.dag_id"),
        message.expected_content_hash,
        tuple(assignments),
        tuple(runs),
    )


def asset_run_request(message: scheduler_pb2.AssetTriggeredRun, index: int) -> AssetRunRequest:
    """Check one asset-triggered run request."""
    where = f"runs[{index}]"
    dag_id = identifier(message.dag_id, f"{where}.dag_id")
    consumed = []
    for position, queued in enumerate(message.consumed):
        created = to_datetime(queued, "created_at")
        if created is None or not queued.asset.name or not queued.asset.uri:
            raise InvalidArgument(
                f"{where}.consumed[{position}]", "needs the asset's name and uri and created_at"
            )
        consumed.append(ConsumedKey(queued.asset.name, queued.asset.uri, created))
    if not consumed:
        raise InvalidArgument(f"{where}.consumed", "names no queued asset event")
    return AssetRunRequest(dag_id, message.expected_content_hash, tuple(consumed))


def snapshot_message(snapshot: scheduling.Snapshot) -> rr.GetSchedulingSnapshotResponse:
    """The contract's message of a scheduling snapshot."""
    return rr.GetSchedulingSnapshotResponse(
        dag_runs=[
            scheduler_pb2.DagRunSnapshot(
                dag_run=run_to_proto(item.run, item.counts),
                task_instances=[ti_scheduling_view(ti) for ti in item.task_instances],
            )
            for item in snapshot.runs
        ],
        pools=[pool_to_proto(usage) for usage in snapshot.pools],
        dag_concurrency=[
            scheduler_pb2.DagConcurrency(**asdict(limits)) for limits in snapshot.dag_concurrency
        ],
        server_time=timestamp(snapshot.server_time),
        event_cursor=snapshot.event_cursor,
    )


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
        claims, lost = await self._services.write(
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
        keys = [(k.dag_id, k.run_id) for k in request.keys]
        now = utcnow()
        released = await self._services.write(
            lambda s: scheduling.release_dag_run_claims(s, scheduler_id, keys, now),
            name="release_dag_run_claims",
        )
        return rr.ReleaseDagRunClaimsResponse(released=released)

    async def ListSchedulableDags(
        self, request: rr.ListSchedulableDagsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListSchedulableDagsResponse:
        """DAGs whose schedules the scheduler advances."""
        page = self._services.pages.request(
            "ListSchedulableDags", request.page_size, request.page_token
        )
        found = await self._services.read(
            lambda s: scheduling.list_schedulable_dags(s, page).map(schedulable_message),
            name="list_schedulable_dags",
        )
        return rr.ListSchedulableDagsResponse(
            dags=found.items, next_page_token=self._services.pages.sign(found.next_page_token)
        )

    async def GetDagDefinitions(
        self, request: rr.GetDagDefinitionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetDagDefinitionsResponse:
        """DAG versions by content hash."""
        hashes = list(request.content_hashes)
        dags = await self._services.read(
            lambda s: scheduling.dag_definitions(s, hashes), name="dag_definitions"
        )
        return rr.GetDagDefinitionsResponse(dags=dags)

    async def AdvanceDagSchedules(
        self, request: rr.AdvanceDagSchedulesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.AdvanceDagSchedulesResponse:
        """Create scheduled runs and move next-run pointers, one compare-and-set per step."""
        identifier(request.scheduler_id, "scheduler_id")
        advances = [schedule_advance(a, i) for i, a in enumerate(request.advances)]
        outcomes = []
        for advance in advances:
            outcomes.append(await self._advance(advance))
        return rr.AdvanceDagSchedulesResponse(outcomes=outcomes)

    async def _advance(self, advance: ScheduleAdvance) -> scheduler_pb2.ScheduleAdvanceOutcome:
        now = utcnow()

        def write(session: Any) -> scheduler_pb2.ScheduleAdvanceOutcome:
            outcome = scheduling.advance_schedule(session, advance, now)
            message = scheduler_pb2.ScheduleAdvanceOutcome(
                dag_id=advance.dag_id, applied=outcome.applied
            )
            if outcome.refusal is not None:
                message.refusal = REFUSALS.to_proto(outcome.refusal)
            if outcome.run is not None:
                message.dag_run.CopyFrom(run_to_proto(outcome.run, {}))
            return message

        return await self._services.write(write, name="advance_schedule")

    async def CreateAssetTriggeredRuns(
        self,
        request: rr.CreateAssetTriggeredRunsRequest,
        context: aio.ServicerContext[Any, Any],
    ) -> rr.CreateAssetTriggeredRunsResponse:
        """Create asset-triggered runs, each one compare-and-set on its queued events."""
        identifier(request.scheduler_id, "scheduler_id")
        requests = [asset_run_request(r, i) for i, r in enumerate(request.runs)]
        outcomes = [await self._asset_run(r) for r in requests]
        return rr.CreateAssetTriggeredRunsResponse(outcomes=outcomes)

    async def _asset_run(self, request: AssetRunRequest) -> scheduler_pb2.ScheduleAdvanceOutcome:
        now = utcnow()

        def write(session: Any) -> scheduler_pb2.ScheduleAdvanceOutcome:
            refusal, run = assets.create_asset_triggered_run(session, request, now)
            message = scheduler_pb2.ScheduleAdvanceOutcome(
                dag_id=request.dag_id, applied=run is not None
            )
            if refusal is not None:
                message.refusal = REFUSALS.to_proto(refusal)
            if run is not None:
                message.dag_run.CopyFrom(run_to_proto(run, {}))
            return message

        outcome = await self._services.write(write, name="create_asset_triggered_run")
        if outcome.applied:
            ASSET_RUNS.inc()
        return outcome

    async def PlanAssetPartitions(
        self, request: rr.PlanAssetPartitionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.PlanAssetPartitionsResponse:
        """Apply partitioned consumers' plans, each in one transaction."""
        identifier(request.scheduler_id, "scheduler_id")
        plans = [partition_plan(p, i) for i, p in enumerate(request.plans)]
        return rr.PlanAssetPartitionsResponse(outcomes=[await self._plan(p) for p in plans])

    async def _plan(self, plan: partitions.PartitionPlan) -> scheduler_pb2.PartitionPlanOutcome:
        now = utcnow()

        def write(session: Any) -> scheduler_pb2.PartitionPlanOutcome:
            outcome = partitions.apply_partition_plan(session, plan, now)
            message = scheduler_pb2.PartitionPlanOutcome(
                dag_id=plan.dag_id,
                applied=outcome.refusal is None,
                dag_runs=[run_to_proto(run, {}) for run in outcome.runs],
                refused_partition_keys=[key for key, _ in outcome.refused],
            )
            if outcome.refusal is not None:
                message.refusal = REFUSALS.to_proto(outcome.refusal)
            return message

        outcome = await self._services.write(write, name="plan_asset_partitions")
        if outcome.dag_runs:
            ASSET_RUNS.inc(len(outcome.dag_runs))
        return outcome

    async def GetSchedulingSnapshot(
        self, request: rr.GetSchedulingSnapshotRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetSchedulingSnapshotResponse:
        """The claimed runs with what deciding needs."""
        scheduler_id = identifier(request.scheduler_id, "scheduler_id")
        keys = [(k.dag_id, k.run_id) for k in request.keys]
        now = utcnow()
        response = await self._services.read(
            lambda s: snapshot_message(scheduling.scheduling_snapshot(s, scheduler_id, keys, now)),
            name="scheduling_snapshot",
        )
        response.max_map_length = self._services.max_map_length
        return response

    async def ApplyTransitions(
        self, request: rr.ApplyTransitionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ApplyTransitionsResponse:
        """Apply a batch of compare-and-set transitions."""
        scheduler_id = identifier(request.scheduler_id, "scheduler_id")
        ti_items = task_instance_transitions(request)
        run_items = run_transitions(request)
        now = utcnow()
        ti_outcomes, run_outcomes = await self._services.write(
            lambda s: apply.apply_transitions(
                s,
                scheduler_id,
                ti_items,
                run_items,
                now,
                max_map_length=self._services.max_map_length,
            ),
            name="apply_transitions",
        )
        expired = sum(
            1
            for item, outcome in zip(ti_items, ti_outcomes, strict=True)
            if outcome.applied and item.expected_state == TaskInstanceState.RUNNING
        )
        LEASES.labels("task", "expired").inc(expired)
        return rr.ApplyTransitionsResponse(
            task_instance_outcomes=[outcome_message(o, of_run=False) for o in ti_outcomes],
            dag_run_outcomes=[outcome_message(o, of_run=True) for o in run_outcomes],
        )
