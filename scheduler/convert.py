"""Conversions between the contract's messages and the scheduler's plain values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from core.mapping import LengthSpec
from core.proto_enums import DAG_RUN_STATES, TASK_INSTANCE_STATES, TRIGGER_RULES, TRY_OUTCOMES
from core.runs import run_id_for
from core.states import DagRunState, DagRunType, TaskInstanceState
from core.timetables import DataInterval
from core.trigger_rules import TriggerRule
from protos.asset.v1 import message_pb2 as asset_pb2
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import dag_run_pb2
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from scheduler.asset_conditions import AssetDag, AssetRun, QueuedAsset
from scheduler.decisions import RunView, TaskInstanceView, TaskSpec, Transition
from scheduler.partitions import (
    PartitionedDag,
    PartitionEvent,
    PartitionPlan,
    Pending,
    Received,
)
from scheduler.planning import Advance, DagSchedule
from scheduler.timetables import load_plugin_object, timetable_of
from services.runtime.partitions import asset_mappers
from services.runtime.protoconv import retry_policy, stamp, to_datetime, to_seconds


def task_specs(definition: dag_pb2.DagDefinition) -> dict[str, TaskSpec]:
    """The scheduler's view of every task of a DAG version."""
    specs = {}
    for task in definition.tasks:
        specs[task.task_id] = TaskSpec(
            task_id=task.task_id,
            upstream=frozenset(task.upstream_task_ids),
            trigger_rule=TRIGGER_RULES.member_or(task.trigger_rule, TriggerRule.ALL_SUCCESS),
            retry=retry_policy(task),
            execution_timeout=to_seconds(task, "execution_timeout"),
            is_setup=task.is_setup,
            is_teardown=task.is_teardown,
            on_failure_fail_dagrun=task.on_failure_fail_dagrun,
            map_length=length_spec(task.map_length) if task.HasField("map_length") else None,
            mapped_group=task.mapped_group_id,
        )
    return specs


def length_spec(length: dag_pb2.MapLength) -> LengthSpec:
    """The scheduler's view of where a mapped task's number of map indexes comes from."""
    kind = length.WhichOneof("source")
    if kind == "literal":
        return LengthSpec("literal", value=length.literal)
    if kind == "upstream_task_id":
        return LengthSpec("upstream", task_id=length.upstream_task_id)
    if kind is None:
        return LengthSpec("literal", value=0)
    parts = getattr(length, kind).parts
    return LengthSpec(kind, parts=tuple(length_spec(part) for part in parts))


def map_index_of(key: run_pb2.TaskInstanceKey) -> int:
    """A key's map index, -1 when it names an unmapped instance."""
    return key.map_index if key.HasField("map_index") else -1


def ti_view(ti: run_pb2.TaskInstance) -> TaskInstanceView:
    """The scheduler's view of a task instance."""
    return TaskInstanceView(
        task_id=ti.key.task_id,
        map_index=map_index_of(ti.key),
        state=TASK_INSTANCE_STATES.member_or(ti.state, TaskInstanceState.NONE),
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        priority_weight=ti.priority_weight,
        pool=ti.pool,
        pool_slots=max(1, ti.pool_slots),
        lease_expires_at=to_datetime(ti, "lease_expires_at"),
        start_date=to_datetime(ti, "start_date"),
        next_retry_at=to_datetime(ti, "next_retry_at"),
        trigger_timeout=to_datetime(ti, "trigger_timeout_at"),
        output_length=ti.output_length if ti.HasField("output_length") else None,
    )


def end_dates(task_instances: Iterable[run_pb2.TaskInstance]) -> dict[str, datetime]:
    """The end dates of the task instances that have one, by task id (a mapped task's last)."""
    ends: dict[str, datetime] = {}
    for ti in task_instances:
        end = to_datetime(ti, "end_date")
        if end is not None and (ti.key.task_id not in ends or end > ends[ti.key.task_id]):
            ends[ti.key.task_id] = end
    return ends


def run_view(run: run_pb2.DagRun) -> RunView:
    """The scheduler's view of a run."""
    return RunView(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=DAG_RUN_STATES.member_or(run.state, DagRunState.QUEUED),
        generation=run.generation,
        logical_date=to_datetime(run, "logical_date"),
    )


def transition_message(
    run: RunView, transition: Transition
) -> scheduler_pb2.TaskInstanceTransition:
    """The contract's message for a task instance transition."""
    message = scheduler_pb2.TaskInstanceTransition(
        key=run_pb2.TaskInstanceKey(
            dag_id=run.dag_id,
            run_id=run.run_id,
            task_id=transition.task_id,
            map_index=transition.map_index if transition.map_index >= 0 else None,
        ),
        expected_state=TASK_INSTANCE_STATES.to_proto(transition.expected_state),
        expected_try_number=transition.expected_try_number,
        new_state=TASK_INSTANCE_STATES.to_proto(transition.new_state),
        reason=transition.reason,
        expected_run_generation=run.generation,
        expand_to=transition.expand_to,
    )
    if transition.outcome is not None:
        message.outcome = TRY_OUTCOMES.to_proto(transition.outcome)
    if transition.next_retry_at is not None:
        message.next_retry_at.CopyFrom(stamp(transition.next_retry_at))
    return message


def run_transition_message(
    run: RunView, expected: DagRunState, new: DagRunState
) -> scheduler_pb2.DagRunTransition:
    """The contract's message for a run transition."""
    return scheduler_pb2.DagRunTransition(
        key=run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id),
        expected_state=DAG_RUN_STATES.to_proto(expected),
        new_state=DAG_RUN_STATES.to_proto(new),
        expected_run_generation=run.generation,
    )


def dag_schedule(
    item: scheduler_pb2.SchedulableDag, plugins_folder: Path | None = None
) -> DagSchedule | None:
    """The schedule of a schedulable DAG, or None when it has no time-based schedule.

    Raises:
        TimetableNotInstalled: a user's timetable that the plugins folder does not hold.

    """
    dag = item.dag
    definition = dag.definition
    if definition.schedule.WhichOneof("kind") is None:
        return None
    pointer = None
    logical = to_datetime(dag, "next_dagrun_logical_date")
    if logical is not None:
        end = to_datetime(dag, "next_dagrun_data_interval_end") or logical
        pointer = DataInterval(
            to_datetime(dag, "next_dagrun_data_interval_start") or logical,
            end,
            to_datetime(dag, "next_dagrun_create_after"),
        )
    latest = None
    latest_end = to_datetime(item, "latest_scheduled_data_interval_end")
    latest_logical = to_datetime(item, "latest_scheduled_logical_date")
    if latest_logical is not None:
        latest_start = to_datetime(item, "latest_scheduled_data_interval_start") or latest_logical
        latest = DataInterval(latest_start, latest_end or latest_start)
    return DagSchedule(
        dag_id=dag.dag_id,
        content_hash=dag.content_hash,
        timetable=timetable_of(definition.schedule, plugins_folder),
        start_date=to_datetime(definition, "start_date"),
        end_date=to_datetime(definition, "end_date"),
        catchup=definition.catchup,
        max_active_runs=definition.max_active_runs or 16,
        active_runs=item.active_runs,
        next_run=pointer,
        latest_scheduled=latest,
    )


def advance_message(advance: Advance) -> scheduler_pb2.ScheduleAdvance:
    """The contract's message for one schedule step."""
    message = scheduler_pb2.ScheduleAdvance(
        dag_id=advance.dag_id, expected_content_hash=advance.content_hash
    )
    if advance.expected_next_logical_date is not None:
        message.expected_next_logical_date.CopyFrom(stamp(advance.expected_next_logical_date))
    if advance.run is not None:
        message.run.CopyFrom(
            scheduler_pb2.NewDagRun(
                run_id=run_id_for(DagRunType.SCHEDULED, advance.run.logical_date),
                run_type=dag_run_pb2.DAG_RUN_TYPE_SCHEDULED,
                logical_date=stamp(advance.run.logical_date),
                data_interval_start=stamp(advance.run.start),
                data_interval_end=stamp(advance.run.end),
                conf_json="{}",
                dag_content_hash=advance.content_hash,
            )
        )
        if advance.partition is not None:
            message.run.partition_key, partition_date = advance.partition
            message.run.partition_date.CopyFrom(stamp(partition_date))
    if advance.next_run is not None:
        message.next.CopyFrom(
            scheduler_pb2.NextDagRun(
                logical_date=stamp(advance.next_run.logical_date),
                data_interval_start=stamp(advance.next_run.start),
                data_interval_end=stamp(advance.next_run.end),
                create_after=stamp(advance.next_run.create_after),
            )
        )
    return message


def asset_dag(item: scheduler_pb2.SchedulableDag) -> AssetDag | None:
    """The asset side of a schedulable DAG, or None when it is not scheduled on assets."""
    definition = item.dag.definition
    if not definition.schedule.HasField("assets"):
        return None
    queued = tuple(
        QueuedAsset(
            name=q.asset.name,
            uri=q.asset.uri,
            created_at=q.created_at.ToDatetime(tzinfo=UTC),
            aliases=frozenset(q.asset_aliases),
        )
        for q in item.queued_asset_events
    )
    return AssetDag(
        dag_id=item.dag.dag_id,
        content_hash=item.dag.content_hash,
        condition=definition.schedule.assets,
        queued=queued,
        active_runs=item.active_runs,
        max_active_runs=definition.max_active_runs or 16,
    )


def asset_run_message(run: AssetRun) -> scheduler_pb2.AssetTriggeredRun:
    """The contract's message for one asset-triggered run."""
    return scheduler_pb2.AssetTriggeredRun(
        dag_id=run.dag_id,
        expected_content_hash=run.content_hash,
        consumed=[
            asset_pb2.QueuedAssetEvent(
                dag_id=run.dag_id,
                asset=dag_pb2.Asset(name=q.name, uri=q.uri),
                created_at=stamp(q.created_at),
            )
            for q in run.consumed
        ],
    )


def partitioned_dag(
    item: scheduler_pb2.SchedulableDag, plugins_folder: Path | None = None
) -> PartitionedDag | None:
    """The partition side of a schedulable DAG, or None when it is not a partitioned consumer.

    Users' mappers and windows are loaded from ``plugins_folder``.

    Raises:
        ValueError: its partition mappers are malformed.
        LookupError: a user's mapper or window that is not installed.

    """
    schedule = item.dag.definition.schedule
    if not schedule.HasField("partitioning"):
        return None
    queued = tuple(
        PartitionEvent(
            event_id=q.asset_event_id,
            name=q.asset.name,
            uri=q.asset.uri,
            partition_key=q.partition_key,
            created_at=q.created_at.ToDatetime(tzinfo=UTC),
            partition_date=to_datetime(q, "partition_date"),
            aliases=frozenset(q.asset_aliases),
        )
        for q in item.queued_partition_events
    )
    pending = tuple(
        Pending(
            key=p.partition_key,
            received=tuple(
                Received(
                    event_id=r.asset_event_id,
                    name=r.asset.name,
                    uri=r.asset.uri,
                    source_key=r.source_partition_key,
                    created_at=r.created_at.ToDatetime(tzinfo=UTC),
                    aliases=frozenset(r.asset_aliases),
                )
                for r in p.received
            ),
            carried_date=to_datetime(p, "carried_partition_date"),
        )
        for p in item.pending_partitions
    )
    return PartitionedDag(
        dag_id=item.dag.dag_id,
        content_hash=item.dag.content_hash,
        condition=schedule.assets,
        mappers=asset_mappers(
            schedule.partitioning,
            lambda plugin: load_plugin_object(
                plugin.class_path, plugin.serialized_json, plugins_folder, "partition mapper"
            ),
        ),
        queued=queued,
        pending=pending,
        active_runs=item.active_runs,
        max_active_runs=item.dag.definition.max_active_runs or 16,
    )


def partition_plan_message(plan: PartitionPlan) -> scheduler_pb2.PartitionPlan:
    """The contract's message for one consumer's plan."""
    return scheduler_pb2.PartitionPlan(
        dag_id=plan.dag_id,
        expected_content_hash=plan.content_hash,
        assignments=[
            scheduler_pb2.PartitionAssignment(
                asset_event_id=a.event_id,
                partition_keys=list(a.keys),
                rejection=a.rejection,
                carried_partition_date=stamp(a.carried_date) if a.carried_date else None,
            )
            for a in plan.assignments
        ],
        runs=[
            scheduler_pb2.PartitionRun(
                partition_key=r.key,
                expected_received=r.expected_received,
                received_event_ids=list(r.event_ids),
                partition_date=stamp(r.partition_date) if r.partition_date else None,
            )
            for r in plan.runs
        ],
    )
