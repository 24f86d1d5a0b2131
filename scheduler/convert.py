"""Conversions between the contract's messages and the scheduler's plain values."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import dag_run_pb2, task_instance_pb2
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from scheduler.decisions import RunView, TaskInstanceView, TaskSpec, Transition
from scheduler.planning import Advance, DagSchedule, scheduled_run_id
from scheduler.timetables import PRESETS, DataInterval, ScheduleSpec
from services.runtime.enums import EnumNames

TI_STATES = EnumNames(task_instance_pb2.TaskInstanceState, "TASK_INSTANCE_STATE_")
RUN_STATES = EnumNames(dag_run_pb2.DagRunState, "DAG_RUN_STATE_")
RULES = EnumNames(task_instance_pb2.TriggerRule, "TRIGGER_RULE_")
OUTCOMES = EnumNames(task_instance_pb2.TryOutcome, "TRY_OUTCOME_")


def when(message: object, field: str) -> datetime | None:
    """An aware UTC datetime from a Timestamp field, None when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    value: Timestamp = getattr(message, field)
    return value.ToDatetime(tzinfo=UTC)


def stamp(moment: datetime) -> Timestamp:
    """A Timestamp of an aware datetime."""
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def task_specs(definition: dag_pb2.DagDefinition) -> dict[str, TaskSpec]:
    """The scheduler's view of every task of a DAG version."""
    specs = {}
    for task in definition.tasks:
        specs[task.task_id] = TaskSpec(
            task_id=task.task_id,
            upstream=frozenset(task.upstream_task_ids),
            trigger_rule=RULES.name_or(task.trigger_rule, "all_success"),
            retry_delay=task.retry_delay.ToTimedelta().total_seconds(),
            retry_exponential_backoff=task.retry_exponential_backoff,
            max_retry_delay=(
                task.max_retry_delay.ToTimedelta().total_seconds()
                if task.HasField("max_retry_delay")
                else None
            ),
            execution_timeout=(
                task.execution_timeout.ToTimedelta().total_seconds()
                if task.HasField("execution_timeout")
                else None
            ),
        )
    return specs


def ti_view(ti: run_pb2.TaskInstance) -> TaskInstanceView:
    """The scheduler's view of a task instance."""
    return TaskInstanceView(
        task_id=ti.key.task_id,
        state=TI_STATES.name_or(ti.state, "none"),
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        priority_weight=ti.priority_weight,
        pool=ti.pool,
        pool_slots=max(1, ti.pool_slots),
        lease_expires_at=when(ti, "lease_expires_at"),
        start_date=when(ti, "start_date"),
        next_retry_at=when(ti, "next_retry_at"),
    )


def run_view(run: run_pb2.DagRun) -> RunView:
    """The scheduler's view of a run."""
    return RunView(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=RUN_STATES.name_or(run.state, "queued"),
        generation=run.generation,
        logical_date=when(run, "logical_date"),
    )


def transition_message(
    run: RunView, transition: Transition
) -> scheduler_pb2.TaskInstanceTransition:
    """The contract's message for a task instance transition."""
    message = scheduler_pb2.TaskInstanceTransition(
        key=run_pb2.TaskInstanceKey(
            dag_id=run.dag_id, run_id=run.run_id, task_id=transition.task_id
        ),
        expected_state=TI_STATES.value(transition.expected_state),
        expected_try_number=transition.expected_try_number,
        new_state=TI_STATES.value(transition.new_state),
        reason=transition.reason,
        expected_run_generation=run.generation,
    )
    if transition.outcome:
        message.outcome = OUTCOMES.value(transition.outcome)
    if transition.next_retry_at is not None:
        message.next_retry_at.CopyFrom(stamp(transition.next_retry_at))
    return message


def run_transition_message(run: RunView, expected: str, new: str) -> scheduler_pb2.DagRunTransition:
    """The contract's message for a run transition."""
    return scheduler_pb2.DagRunTransition(
        key=run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id),
        expected_state=RUN_STATES.value(expected),
        new_state=RUN_STATES.value(new),
        expected_run_generation=run.generation,
    )


def schedule_spec(schedule: dag_pb2.Schedule) -> ScheduleSpec:
    """The scheduler's view of a DAG's schedule."""
    kind = schedule.WhichOneof("kind")
    timezone = schedule.timezone or "UTC"
    if kind == "cron":
        return ScheduleSpec(cron=PRESETS.get(schedule.cron, schedule.cron), timezone=timezone)
    if kind == "interval":
        return ScheduleSpec(interval=schedule.interval.ToTimedelta(), timezone=timezone)
    if kind == "once":
        return ScheduleSpec(once=True, timezone=timezone)
    return ScheduleSpec(timezone=timezone)


def dag_schedule(item: scheduler_pb2.SchedulableDag) -> DagSchedule | None:
    """The schedule of a schedulable DAG, or None when its definition lacks a start date."""
    dag = item.dag
    definition = dag.definition
    start = when(definition, "start_date")
    if start is None:
        return None
    pointer = None
    logical = when(dag, "next_dagrun_logical_date")
    if logical is not None:
        end = when(dag, "next_dagrun_data_interval_end") or logical
        pointer = DataInterval(when(dag, "next_dagrun_data_interval_start") or logical, end)
    return DagSchedule(
        dag_id=dag.dag_id,
        content_hash=dag.content_hash,
        spec=schedule_spec(definition.schedule),
        start_date=start,
        end_date=when(definition, "end_date"),
        catchup=definition.catchup,
        max_active_runs=definition.max_active_runs or 16,
        active_runs=item.active_runs,
        next_run=pointer,
        latest_scheduled_logical_date=when(item, "latest_scheduled_logical_date"),
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
                run_id=scheduled_run_id(advance.run.logical_date),
                run_type=dag_run_pb2.DAG_RUN_TYPE_SCHEDULED,
                logical_date=stamp(advance.run.logical_date),
                data_interval_start=stamp(advance.run.start),
                data_interval_end=stamp(advance.run.end),
                conf_json="{}",
                dag_content_hash=advance.content_hash,
            )
        )
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
