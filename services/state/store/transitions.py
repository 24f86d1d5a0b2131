"""State changes shared by every writer: each one also records its change event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.proto_enums import DAG_RUN_STATES, TASK_INSTANCE_STATES
from core.retries import RetryPolicy, retry_identity
from core.states import FINISHED, LEASED, SUSPENDED, DagRunState, TaskInstanceState, TryOutcome
from core.tries import end_of_try
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.state.db.event_log import record_event
from services.state.db.models import DagRun, DagVersion, TaskInstance, TaskInstanceTry, Trigger
from services.state.graph import VERSIONS, Version


def change_ti_state(session: Session, ti: TaskInstance, new_state: str, now: datetime) -> None:
    """Move a task instance to ``new_state`` and publish the change.

    Leaving deferred drops its trigger (fired, timed out, cleared or marked); an instance that
    finishes or starts over forgets where its try was to resume.
    """
    previous = ti.state
    ti.state = new_state
    ti.updated_at = now
    if previous == TaskInstanceState.DEFERRED:
        session.execute(delete(Trigger).where(Trigger.task_instance_id == ti.id))
        ti.trigger_timeout = None
    if new_state in FINISHED or new_state == TaskInstanceState.NONE:
        ti.continues_try = False
        ti.next_method = ti.next_kwargs_json = ""
    if new_state == TaskInstanceState.NONE:
        ti.first_reschedule_at = None
        ti.reschedule_count = 0
    record_event(
        session,
        type=event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED,
        time=now,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number,
        task_instance_state=TASK_INSTANCE_STATES.to_proto(new_state),
        previous_task_instance_state=TASK_INSTANCE_STATES.to_proto(previous),
        queue=ti.queue,
        pool=ti.pool,
    )


def change_run_state(session: Session, run: DagRun, new_state: str, now: datetime) -> None:
    """Move a run to ``new_state``, keeping its dates and claim in step, and publish it."""
    previous = run.state
    run.state = new_state
    if new_state == DagRunState.RUNNING and run.start_date is None:
        run.start_date = now
    if new_state in (DagRunState.SUCCESS, DagRunState.FAILED):
        run.end_date = now
        run.claimed_by = None
        run.claim_expires_at = None
    else:
        run.end_date = None
    if new_state == DagRunState.QUEUED:
        run.queued_at = now
        run.start_date = None
    record_event(
        session,
        type=event_pb2.EVENT_TYPE_DAG_RUN_STATE_CHANGED,
        time=now,
        dag_id=run.dag_id,
        run_id=run.run_id,
        dag_run_state=DAG_RUN_STATES.to_proto(new_state),
        previous_dag_run_state=DAG_RUN_STATES.to_proto(previous),
    )


def version_of(session: Session, content_hash: str) -> Version:
    """The DAG version with this content hash (read and decoded once per process)."""
    version = VERSIONS.get(
        content_hash,
        lambda: session.scalar(
            select(DagVersion.definition).where(DagVersion.content_hash == content_hash)
        ),
    )
    if version is None:
        raise LookupError(f"DAG version {content_hash} is missing")
    return version


def definition_of(session: Session, content_hash: str) -> dag_pb2.DagDefinition:
    """The DAG definition with this content hash."""
    return version_of(session, content_hash).definition


def task_definition(session: Session, run: DagRun, task_id: str) -> dag_pb2.TaskDefinition | None:
    """The definition of one task in the version a run was created with."""
    return version_of(session, run.dag_content_hash).tasks.get(task_id)


@dataclass(frozen=True)
class TryEnding:
    """How a try ended, from the executor's report or from the scheduler."""

    outcome: str
    end_date: datetime
    error_type: str = ""
    error_message: str = ""
    error_traceback: str = ""
    final_log_chunk_index: int | None = None
    #: For a reschedule: when the sensor's next poke is due.
    resume_at: datetime | None = None


def retry_policy(task: dag_pb2.TaskDefinition | None) -> RetryPolicy:
    """The retry settings of a task definition (Airflow's defaults when it is gone)."""
    if task is None:
        return RetryPolicy(retry_delay=0.0)
    return RetryPolicy(
        retry_delay=task.retry_delay.ToTimedelta().total_seconds(),
        exponential_backoff=task.retry_exponential_backoff,
        max_retry_delay=(
            task.max_retry_delay.ToTimedelta().total_seconds()
            if task.HasField("max_retry_delay")
            else None
        ),
    )


def end_try(
    session: Session,
    ti: TaskInstance,
    ending: TryEnding,
    now: datetime,
    *,
    new_state: str | None = None,
    next_retry_at: datetime | None = None,
) -> str:
    """Close the current try: its record, the lease, and the task instance's next state.

    Without ``new_state``, the retry rules decide it. A task instance that a person cleared
    (restarting) goes back to none; one a person marked keeps the state they chose.
    """
    attempt = session.scalar(
        select(TaskInstanceTry).where(
            TaskInstanceTry.task_instance_id == ti.id, TaskInstanceTry.try_number == ti.try_number
        )
    )
    if new_state is None:
        run = session.get(DagRun, ti.dag_run_id)
        task = task_definition(session, run, ti.task_id) if run is not None else None
        end = end_of_try(
            state=ti.state,
            outcome=ending.outcome,
            try_number=ti.try_number,
            max_tries=ti.max_tries,
            retry=retry_policy(task),
            ended_at=ending.end_date,
            identity=retry_identity(ti.dag_id, ti.task_id, ti.run_id, ti.map_index),
            stop_requested=ti.stop_requested,
            resume_at=ending.resume_at,
        )
        new_state, next_retry_at = end.state, end.next_retry_at
    suspended = new_state in SUSPENDED and ending.outcome in (
        TryOutcome.DEFERRED,
        TryOutcome.RESCHEDULED,
    )
    start = ti.start_date or ending.end_date
    seconds = max(0.0, (ending.end_date - start).total_seconds())
    if attempt is not None:
        attempt.state = new_state
        attempt.outcome = ending.outcome
        attempt.end_date = ending.end_date
        attempt.duration_seconds = seconds
        attempt.error_type = ending.error_type
        attempt.error_message = ending.error_message
        attempt.error_traceback = ending.error_traceback
        if ending.final_log_chunk_index is not None:
            attempt.final_log_chunk_index = ending.final_log_chunk_index
    if (not ti.stop_requested or ti.state in LEASED) and not suspended:
        ti.end_date = ending.end_date
        ti.duration_seconds = seconds
    ti.error_type = ending.error_type
    ti.error_message = ending.error_message
    ti.error_traceback = ending.error_traceback
    ti.next_retry_at = next_retry_at
    ti.lease_id = None
    ti.lease_owner = None
    ti.lease_expires_at = None
    ti.stop_requested = False
    # A suspended try goes on in its next process; any other ending closes it for good.
    ti.continues_try = suspended
    if not suspended:
        ti.next_method = ti.next_kwargs_json = ""
    if new_state != ti.state:
        change_ti_state(session, ti, new_state, now)
    return new_state


def clear_task_instance_rows(
    session: Session, run: DagRun, tis: list[TaskInstance], now: datetime
) -> None:
    """Make task instances run again (Airflow's clear), and queue their run again.

    A running try is asked to stop (restarting) and its task instance returns to none once it
    has stopped, so two tries never overlap. Cleared task instances get their retries back.
    """
    tasks = version_of(session, run.dag_content_hash).tasks
    for ti in tis:
        task = tasks.get(ti.task_id)
        ti.max_tries = ti.try_number + (task.retries if task is not None else 0) + 1
        ti.next_retry_at = None
        if ti.state in LEASED:
            ti.stop_requested = True
            if ti.state != TaskInstanceState.RESTARTING:
                change_ti_state(session, ti, TaskInstanceState.RESTARTING, now)
        elif ti.state != TaskInstanceState.NONE:
            ti.end_date = None
            ti.error_type = ti.error_message = ti.error_traceback = ""
            change_ti_state(session, ti, TaskInstanceState.NONE, now)
    if run.state != DagRunState.QUEUED:
        change_run_state(session, run, DagRunState.QUEUED, now)
    run.generation += 1
