"""The scheduler service: claims runs, reacts to change events, applies its decisions.

The loop only fetches snapshots, calls the pure :func:`scheduler.decisions.decide_run` and
:func:`scheduler.planning.plan_schedule`, and sends the results to the state service. Runs are
looked at again when an event touches them, when a timer they asked for fires (retry delays,
lease expiries, timeouts), and on a slow safety-net sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc
from grpc import aio

from core.mapping import DEFAULT_MAX_MAP_LENGTH
from core.proto_enums import DAG_RUN_STATES, TASK_INSTANCE_STATES
from core.states import RUN_ACTIVE, DagRunState, TaskInstanceState, frees_capacity
from protos.enums.v1 import event_pb2, transition_pb2
from protos.event.v1 import request_response_pb2 as event_rr
from protos.event.v1 import service_pb2 as event_service
from protos.event.v1 import service_pb2_grpc as event_grpc
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from protos.scheduler.v1 import request_response_pb2 as rr
from protos.scheduler.v1 import service_pb2 as scheduler_service
from protos.scheduler.v1 import service_pb2_grpc as scheduler_grpc
from scheduler import convert, metrics
from scheduler.asset_conditions import plan_asset_run
from scheduler.decisions import (
    RunView,
    Transition,
    decide_run,
    order_for_admission,
    within_capacity,
)
from scheduler.partitions import IncompleteMemo, PartitionPlan, plan_partitions
from scheduler.planning import Advance, plan_schedule
from scheduler.settings import (
    CLAIM_DURATION,
    MAX_RUNS,
    PARTITION_MAPPER_MAX_DOWNSTREAM_KEYS,
    SPEC_CACHE_SIZE,
    STATE,
    SWEEP_INTERVAL,
)
from scheduler.specs import SpecCache, TaskSpecs, upstream_end_to_queued
from scheduler.timetables import TimetableFailed, TimetableNotInstalled
from services.runtime.loops import run_guarded
from services.runtime.protoconv import duration
from services.runtime.server import GrpcService, RuntimeContext, ServerConfig
from tradewind_common import config as cfg
from tradewind_common.channels import ChannelConfig, create_channel

logger = logging.getLogger("tradewind.scheduler")

RunKey = tuple[str, str]
#: Runs decided per snapshot call.
BATCH_RUNS = 200
#: Refusals after which a task instance waits in "scheduled" for capacity.
CAPACITY_REFUSALS = frozenset(
    {
        transition_pb2.TRANSITION_REFUSAL_POOL_FULL,
        transition_pb2.TRANSITION_REFUSAL_DAG_CONCURRENCY_LIMIT,
        transition_pb2.TRANSITION_REFUSAL_DAG_PAUSED,
    }
)
#: Refusals after which the run is looked at again with a fresh snapshot.
STALE_REFUSALS = frozenset(
    {
        transition_pb2.TRANSITION_REFUSAL_STATE_CONFLICT,
        transition_pb2.TRANSITION_REFUSAL_STALE_GENERATION,
    }
)
SCHEDULE_IDLE_SECONDS = 30.0


class SchedulerApp:
    """The scheduler: any number of replicas share the runs through claims."""

    service_name = "scheduler"

    def __init__(self, config: ServerConfig, values: cfg.Settings) -> None:
        self._state: ChannelConfig = STATE.config(values)
        self._claim_duration = values[CLAIM_DURATION]
        self._max_runs = values[MAX_RUNS]
        self._sweep_interval = values[SWEEP_INTERVAL]
        self._max_downstream_keys = values[PARTITION_MAPPER_MAX_DOWNSTREAM_KEYS]
        self._incomplete = IncompleteMemo()
        folder = values[cfg.PLUGINS_FOLDER]
        self._plugins_folder = folder.expanduser().resolve() if folder is not None else None
        #: DAG versions whose timetable failed, each logged once.
        self._broken_timetables: set[tuple[str, str]] = set()
        self.scheduler_id = ""
        self._claimed: set[RunKey] = set()
        self._dirty: set[RunKey] = set()
        self._waiting_for_capacity: set[RunKey] = set()
        #: Queued runs that max_active_runs holds back; a run of their DAG ending frees them.
        self._waiting_for_run_slot: set[RunKey] = set()
        self._wake = asyncio.Event()
        self._claim_now = asyncio.Event()
        self._schedule_now = asyncio.Event()
        self._timers: dict[RunKey, asyncio.TimerHandle] = {}
        self._specs = SpecCache(values[SPEC_CACHE_SIZE])
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: aio.Channel | None = None

    def grpc_services(self) -> Sequence[GrpcService]:
        """The scheduler serves only health, reflection and server info."""
        return ()

    async def start(self, context: RuntimeContext) -> None:
        """Connect to the state service and start the loops."""
        self.scheduler_id = context.identity.instance_id
        self._channel = create_channel(
            self._state,
            [
                scheduler_service.DESCRIPTOR.services_by_name["SchedulerService"],
                event_service.DESCRIPTOR.services_by_name["EventService"],
            ],
        )
        self._scheduler = scheduler_grpc.SchedulerServiceStub(self._channel)
        self._events = event_grpc.EventServiceStub(self._channel)
        for loop in (
            self._claim_loop,
            self._watch_loop,
            self._process_loop,
            self._schedule_loop,
            self._sweep_loop,
        ):
            guarded = run_guarded(loop, logger=logger)
            self._tasks.append(asyncio.create_task(guarded, name=loop.__name__))

    async def stop(self, grace_seconds: float) -> None:
        """Stop the loops and give the claims back so other schedulers take the runs at once."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._timers.values():
            timer.cancel()
        if self._channel is not None:
            with contextlib.suppress(grpc.RpcError):
                await self._scheduler.ReleaseDagRunClaims(
                    rr.ReleaseDagRunClaimsRequest(scheduler_id=self.scheduler_id),
                    timeout=min(5.0, grace_seconds or 5.0),
                )
            await self._channel.close(None)

    # ---- what needs a look ----

    def _mark(self, keys: Sequence[RunKey] | set[RunKey]) -> None:
        self._dirty.update(keys)
        if self._dirty:
            self._wake.set()

    def _timer(self, key: RunKey, at: datetime, now: datetime) -> None:
        delay = max(0.0, (at - now).total_seconds()) + 0.01
        loop = asyncio.get_running_loop()
        current = self._timers.get(key)
        if current is not None and current.when() <= loop.time() + delay:
            return
        if current is not None:
            current.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: RunKey) -> None:
        self._timers.pop(key, None)
        self._mark([key])

    # ---- loops ----

    async def _claim_loop(self) -> None:
        while True:
            response = await self._scheduler.ClaimDagRuns(
                rr.ClaimDagRunsRequest(
                    scheduler_id=self.scheduler_id,
                    max_runs=self._max_runs,
                    claim_duration=duration(self._claim_duration),
                ),
                timeout=self._claim_duration / 3,
            )
            claimed = {(c.key.dag_id, c.key.run_id) for c in response.claims}
            gained = claimed - self._claimed
            self._claimed = claimed
            metrics.RUNS_CLAIMED.set(len(claimed))
            self._mark(gained)
            self._claim_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_now.wait(), self._claim_duration / 3)

    async def _watch_loop(self) -> None:
        cursor: int | None = None
        while True:
            request = event_rr.WatchEventsRequest()
            if cursor is not None:
                request.after_cursor = cursor
            try:
                async for batch in self._events.WatchEvents(request):
                    for event in batch.events:
                        self._on_event(event)
                    cursor = batch.latest_cursor or cursor
            except aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.OUT_OF_RANGE:
                    cursor = None
                    self._mark(self._claimed)
                    continue
                raise

    def _on_event(self, event: Any) -> None:
        key = (event.dag_id, event.run_id)
        kind = event.type
        if kind == event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED:
            if key in self._claimed:
                self._mark([key])
            if self._waiting_for_capacity and frees_capacity(
                TASK_INSTANCE_STATES.member_or(
                    event.previous_task_instance_state, TaskInstanceState.NONE
                ),
                TASK_INSTANCE_STATES.member_or(event.task_instance_state, TaskInstanceState.NONE),
            ):
                self._mark(self._waiting_for_capacity & self._claimed)
        elif kind == event_pb2.EVENT_TYPE_DAG_RUN_STATE_CHANGED:
            if key in self._claimed:
                self._mark([key])
            elif DAG_RUN_STATES.member_or(event.dag_run_state, DagRunState.QUEUED) in RUN_ACTIVE:
                self._claim_now.set()  # a run cleared or re-queued after it had ended
            if self._waiting_for_run_slot:
                freed = {k for k in self._waiting_for_run_slot if k[0] == event.dag_id}
                self._waiting_for_run_slot -= freed
                self._mark(freed & self._claimed)
            self._schedule_now.set()
        elif kind in (
            event_pb2.EVENT_TYPE_DAG_RUN_CREATED,
            event_pb2.EVENT_TYPE_DAG_RUN_CLAIM_RELEASED,
        ):
            self._claim_now.set()
        elif kind in (event_pb2.EVENT_TYPE_DAG_UPDATED, event_pb2.EVENT_TYPE_DAG_PAUSED_CHANGED):
            self._schedule_now.set()
            self._mark({k for k in self._claimed if k[0] == event.dag_id})
        elif kind == event_pb2.EVENT_TYPE_ASSET_EVENT_RECORDED:
            self._schedule_now.set()
        elif kind == event_pb2.EVENT_TYPE_POOL_CHANGED:
            self._mark(self._waiting_for_capacity & self._claimed)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            self._mark(self._claimed)

    async def _process_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                wanted = [key for key in self._dirty if key in self._claimed][:BATCH_RUNS]
                self._dirty.difference_update(wanted)
                self._dirty.intersection_update(self._claimed)
                if not wanted:
                    break
                try:
                    with metrics.PASS_SECONDS.time():
                        await self._process(wanted)
                except BaseException:
                    self._mark(wanted)
                    raise

    # ---- one pass ----

    async def _definitions(self, hashes: set[str]) -> None:
        missing = self._specs.missing(hashes)
        if not missing:
            return
        response = await self._scheduler.GetDagDefinitions(
            rr.GetDagDefinitionsRequest(content_hashes=missing)
        )
        for serialized in response.dags:
            self._specs.put(serialized.content_hash, convert.task_specs(serialized.definition))

    async def _process(self, keys: Sequence[RunKey]) -> None:
        snapshot = await self._scheduler.GetSchedulingSnapshot(
            rr.GetSchedulingSnapshotRequest(
                scheduler_id=self.scheduler_id,
                keys=[run_pb2.DagRunKey(dag_id=d, run_id=r) for d, r in keys],
            )
        )
        now = snapshot.server_time.ToDatetime(tzinfo=UTC)
        seen = {(s.dag_run.dag_id, s.dag_run.run_id) for s in snapshot.dag_runs}
        self._claimed.difference_update(set(keys) - seen)
        for pool in snapshot.pools:
            metrics.POOL_SLOTS.labels(pool.name, "open").set(pool.open_slots)
            metrics.POOL_SLOTS.labels(pool.name, "running").set(pool.running_slots)
            metrics.POOL_SLOTS.labels(pool.name, "queued").set(pool.queued_slots)
        await self._definitions({s.dag_run.dag_content_hash for s in snapshot.dag_runs})

        candidates: list[tuple[RunView, Transition]] = []
        run_items: list[tuple[RunView, tuple[DagRunState, DagRunState]]] = []
        ends: dict[RunKey, tuple[TaskSpecs, dict[str, datetime]]] = {}
        for snap in snapshot.dag_runs:
            run = convert.run_view(snap.dag_run)
            key = (run.dag_id, run.run_id)
            specs = self._specs.get(snap.dag_run.dag_content_hash)
            if specs is None:
                continue
            views = [convert.ti_view(ti) for ti in snap.task_instances]
            ends[key] = (specs, convert.end_dates(snap.task_instances))
            decision = decide_run(
                run,
                specs,
                views,
                now,
                max_map_length=snapshot.max_map_length or DEFAULT_MAX_MAP_LENGTH,
            )
            candidates += [(run, transition) for transition in decision.transitions]
            if decision.run_state is not None:
                run_items.append((run, decision.run_state))
            if decision.wake_at is not None:
                self._timer(key, decision.wake_at, now)
        if not candidates and not run_items:
            return
        open_slots = {pool.name: pool.open_slots for pool in snapshot.pools}
        dag_room = {
            dag.dag_id: dag.max_active_tasks - dag.active_task_instances
            for dag in snapshot.dag_concurrency
        }
        sent, held = within_capacity(order_for_admission(candidates), open_slots, dag_room)
        self._waiting_for_capacity.update((run.dag_id, run.run_id) for run, _ in held)
        # Held back for capacity: show that their dependencies are met, as Airflow does.
        ti_items = sent + [
            (run, replace(t, new_state=TaskInstanceState.SCHEDULED))
            for run, t in held
            if t.expected_state == TaskInstanceState.NONE
        ]
        response = await self._scheduler.ApplyTransitions(
            rr.ApplyTransitionsRequest(
                scheduler_id=self.scheduler_id,
                task_instance_transitions=[
                    convert.transition_message(run, t) for run, t in ti_items
                ],
                dag_run_transitions=[
                    convert.run_transition_message(run, expected, new)
                    for run, (expected, new) in run_items
                ],
            )
        )
        self._after_apply(ti_items, run_items, response, ends, now)

    def _after_apply(
        self,
        ti_items: list[tuple[RunView, Transition]],
        run_items: list[tuple[RunView, tuple[DagRunState, DagRunState]]],
        response: rr.ApplyTransitionsResponse,
        ends: dict[RunKey, tuple[TaskSpecs, dict[str, datetime]]],
        now: datetime,
    ) -> None:
        for (run, transition), outcome in zip(
            ti_items, response.task_instance_outcomes, strict=True
        ):
            key = (run.dag_id, run.run_id)
            label = (
                "applied"
                if outcome.applied
                else transition_pb2.TransitionRefusal.Name(outcome.refusal)
            )
            metrics.TRANSITIONS.labels(transition.new_state, label).inc()
            if outcome.applied:
                if transition.expand_to:
                    self._mark([key])  # decide the new map indexes at once
                if transition.new_state == TaskInstanceState.QUEUED:
                    latency = upstream_end_to_queued(*ends[key], transition.task_id, now)
                    if latency is not None:
                        metrics.UPSTREAM_TO_QUEUED.observe(latency)
                continue
            if outcome.refusal in CAPACITY_REFUSALS:
                self._waiting_for_capacity.add(key)
            elif outcome.refusal in STALE_REFUSALS:
                self._mark([key])
            elif outcome.refusal == transition_pb2.TRANSITION_REFUSAL_RUN_NOT_CLAIMED:
                self._claimed.discard(key)
        for (run, (_, new)), outcome in zip(run_items, response.dag_run_outcomes, strict=True):
            key = (run.dag_id, run.run_id)
            if outcome.applied and new == DagRunState.RUNNING:
                self._mark([key])
            elif outcome.applied:
                self._claimed.discard(key)
                self._waiting_for_capacity.discard(key)
                self._schedule_now.set()
            elif outcome.refusal == transition_pb2.TRANSITION_REFUSAL_ACTIVE_RUNS_LIMIT:
                self._waiting_for_run_slot.add(key)
            elif outcome.refusal in STALE_REFUSALS:
                self._mark([key])

    async def _schedule_loop(self) -> None:
        while True:
            wake_at = await self._schedule_pass()
            self._schedule_now.clear()
            idle = SCHEDULE_IDLE_SECONDS
            if wake_at is not None:
                idle = min(idle, max(0.0, (wake_at - datetime.now(UTC)).total_seconds()) + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._schedule_now.wait(), idle)

    async def _schedule_pass(self) -> datetime | None:
        """Create the scheduled runs that are due; return when the next one is."""
        wake_at: datetime | None = None
        while True:
            now = datetime.now(UTC)
            advances = []
            asset_runs = []
            plans = []
            token = ""
            while True:
                page = await self._scheduler.ListSchedulableDags(
                    rr.ListSchedulableDagsRequest(page_size=500, page_token=token)
                )
                for item in page.dags:
                    on_assets = convert.asset_dag(item)
                    if on_assets is not None and (run := plan_asset_run(on_assets)) is not None:
                        asset_runs.append(convert.asset_run_message(run))
                    if (plan := self._plan_partitions(item)) is not None:
                        plans.append(convert.partition_plan_message(plan))
                    if not item.dag.definition.schedule.WhichOneof("kind"):
                        continue  # scheduled on assets only
                    planned = self._plan_schedule(item, now)
                    if planned is None:
                        continue
                    advance, wake = planned
                    if advance is not None:
                        advances.append(convert.advance_message(advance))
                    if wake is not None:
                        wake_at = wake if wake_at is None else min(wake_at, wake)
                token = page.next_page_token
                if not token:
                    break
            self._incomplete.end_pass()
            if not advances and not asset_runs and not plans:
                return wake_at
            outcomes: list[scheduler_pb2.ScheduleAdvanceOutcome] = []
            if advances:
                response = await self._scheduler.AdvanceDagSchedules(
                    rr.AdvanceDagSchedulesRequest(scheduler_id=self.scheduler_id, advances=advances)
                )
                outcomes += response.outcomes
                metrics.RUNS_CREATED.labels("scheduled").inc(
                    sum(1 for o in response.outcomes if o.applied and o.dag_run.run_id)
                )
            if asset_runs:
                asset_response = await self._scheduler.CreateAssetTriggeredRuns(
                    rr.CreateAssetTriggeredRunsRequest(
                        scheduler_id=self.scheduler_id, runs=asset_runs
                    )
                )
                outcomes += asset_response.outcomes
                metrics.RUNS_CREATED.labels("asset_triggered").inc(
                    sum(1 for o in asset_response.outcomes if o.applied)
                )
            progressed = await self._apply_partition_plans(plans)
            if any(o.applied and o.dag_run.run_id for o in outcomes):
                self._claim_now.set()
            if not progressed and not any(o.applied for o in outcomes):
                return wake_at

    async def _apply_partition_plans(self, plans: list[scheduler_pb2.PartitionPlan]) -> bool:
        """Send partitioned consumers' plans; whether any assigned an event or made a run."""
        if not plans:
            return False
        response = await self._scheduler.PlanAssetPartitions(
            rr.PlanAssetPartitionsRequest(scheduler_id=self.scheduler_id, plans=plans)
        )
        created = sum(len(o.dag_runs) for o in response.outcomes)
        metrics.RUNS_CREATED.labels("asset_triggered").inc(created)
        if created:
            self._claim_now.set()
        by_dag = {p.dag_id: p for p in plans}
        applied = [by_dag[o.dag_id] for o in response.outcomes if o.applied]
        for plan in applied:
            rejected = sum(1 for a in plan.assignments if a.rejection)
            metrics.PARTITION_EVENTS.labels("rejected").inc(rejected)
            metrics.PARTITION_EVENTS.labels("assigned").inc(len(plan.assignments) - rejected)
        assigned = any(plan.assignments for plan in applied)
        return bool(created) or assigned

    def _log_broken(
        self, item: scheduler_pb2.SchedulableDag, message: str, err: BaseException
    ) -> None:
        """Log, once per DAG version, why its scheduling cannot go on."""
        key = (item.dag.dag_id, item.dag.content_hash)
        if key not in self._broken_timetables:
            self._broken_timetables.add(key)
            logger.error(message, extra={"action": "schedule", "dag_id": key[0], "error": str(err)})

    def _plan_partitions(self, item: scheduler_pb2.SchedulableDag) -> PartitionPlan | None:
        """A partitioned consumer's plan, or None (nothing to do, or its mappers are broken)."""
        try:
            dag = convert.partitioned_dag(item, self._plugins_folder)
        except Exception as err:  # malformed, not installed, or a user's class failing
            self._log_broken(item, "the DAG's partition mappers cannot be used; they wait", err)
            return None
        if dag is None:
            return None
        try:
            return plan_partitions(dag, self._max_downstream_keys, self._incomplete)
        except Exception as err:  # users' mappers run here: one DAG's failure is its own
            self._log_broken(item, "the DAG's partitions cannot be planned; they wait", err)
            return None

    def _plan_schedule(
        self, item: scheduler_pb2.SchedulableDag, now: datetime
    ) -> tuple[Advance | None, datetime | None] | None:
        """The time-based step of one DAG, or None when its timetable cannot answer.

        Such a DAG is logged once per DAG version and counted; the other DAGs go on.
        """
        try:
            schedule = convert.dag_schedule(item, self._plugins_folder)
            if schedule is None:
                return None
            return plan_schedule(schedule, now)
        except Exception as err:
            reason = (
                type(err).__name__
                if isinstance(err, TimetableNotInstalled | TimetableFailed)
                else "TimetableFailed"
            )
            metrics.TIMETABLE_ERRORS.labels(reason).inc()
            self._log_broken(
                item, "the DAG's timetable cannot be used; its scheduled runs wait", err
            )
            return None


def build_app(config: ServerConfig, values: cfg.Settings) -> SchedulerApp:
    """The app factory for :func:`services.runtime.server.service_main`."""
    return SchedulerApp(config, values)
