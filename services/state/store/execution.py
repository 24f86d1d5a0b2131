"""What executors and task processes do through the state service: leases, results, logs, XCom.

A try's lease (task instance key, try number, random lease id) fences every write about it:
once the lease has expired or moved on, heartbeats and results are refused and change nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.mapping import DEFAULT_MAX_MAP_LENGTH
from core.states import TaskInstanceState, TryOutcome
from core.tries import skipped_by
from services.state.clock import utcnow
from services.state.db.models import (
    Dag,
    DagRun,
    TaskInstance,
    TaskInstanceTry,
    TaskLog,
    TaskState,
    XCom,
)
from services.state.store.assets import OutletReport, RunPartition, record_outlet_events
from services.state.store.deferral import Deferral, defer_try
from services.state.store.errors import Forbidden, LeaseLost, NotFound
from services.state.store.instances import touch_instance
from services.state.store.outputs import record_output_length
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.runs import get_run
from services.state.store.task_instances import TaskInstanceKey, get_ti
from services.state.store.transitions import (
    TryEnding,
    change_ti_state,
    end_try,
    task_definition,
    version_of,
)

EXECUTOR_KIND = "executor"
LEASE_ID_BYTES = 16


@dataclass(frozen=True)
class TryLease:
    """The lease of one try: which task instance, which try, and its secret lease id."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    lease_id: str
    #: -1 for a task that is not mapped.
    map_index: int = -1

    @property
    def key(self) -> TaskInstanceKey:
        """The task instance the try belongs to."""
        return TaskInstanceKey(self.dag_id, self.run_id, self.task_id, self.map_index)

    def describe(self) -> str:
        """The try, for messages: ``dag/run/task[map index] try N``."""
        return f"{self.key.describe()} try {self.try_number}"


@dataclass(frozen=True)
class LeasedTry:
    """A try just leased, with what its executor needs to run it."""

    ti: TaskInstance
    run: DagRun
    dag: Dag | None
    expires_at: datetime
    #: The task's execution_timeout in seconds, or None.
    execution_timeout: float | None
    #: The OS user the task asks to run as; "" for the executor's choice.
    run_as_user: str = ""

    @property
    def lease(self) -> TryLease:
        """The try's lease."""
        assert self.ti.lease_id is not None
        return TryLease(
            self.ti.dag_id,
            self.ti.run_id,
            self.ti.task_id,
            self.ti.try_number,
            self.ti.lease_id,
            self.ti.map_index,
        )


class LeaseStatus(StrEnum):
    """Where a leased try stands, as its executor is told (the contract's LeaseStatus)."""

    ACTIVE = "active"
    LOST = "lost"
    STOP_REQUESTED = "stop_requested"


@dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """An executor's word that a try still runs, with what it learnt of its process."""

    lease: TryLease
    pid: int = 0
    hostname: str = ""
    process_started_at: datetime | None = None


@dataclass(frozen=True)
class HeartbeatOutcome:
    """The lease's status after a heartbeat, and when it now expires (None once lost)."""

    lease: TryLease
    status: LeaseStatus
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class LogLine:
    """One captured line of a try's output."""

    timestamp: datetime | None
    stream: int
    level: str
    message: str


@dataclass(frozen=True, kw_only=True)
class LogChunk:
    """A numbered batch of a try's log lines (chunks already stored are ignored)."""

    lease: TryLease
    chunk_index: int
    lines: Sequence[LogLine]


@dataclass(frozen=True)
class LogPage:
    """Log lines of one try after a sequence number."""

    lines: list[TaskLog]
    try_number: int
    #: The try has ended and every line of it has been read.
    complete: bool


def lease_task_instances(
    session: Session,
    executor_id: str,
    queues: Sequence[str],
    max_leases: int,
    lease_duration: timedelta,
    hostname: str,
    now: datetime,
) -> list[LeasedTry]:
    """Lease the highest-priority queued task instances of ``queues`` and start their tries."""
    touch_instance(session, executor_id, EXECUTOR_KIND, now, lease_duration)
    tis = list(
        session.scalars(
            select(TaskInstance)
            .where(
                TaskInstance.state == TaskInstanceState.QUEUED, TaskInstance.queue.in_(list(queues))
            )
            .order_by(TaskInstance.priority_weight.desc(), TaskInstance.queued_at, TaskInstance.id)
            .limit(max_leases)
            .with_for_update(skip_locked=True)
        )
    )
    if not tis:
        return []
    # Read the clock again now that the rows are locked: this transaction may have waited (for
    # the executor's row, say) while another ended the previous try of one of them, and a try
    # must never start before the previous one ended.
    now = max(now, utcnow())
    runs = {
        r.id: r
        for r in session.scalars(select(DagRun).where(DagRun.id.in_({t.dag_run_id for t in tis})))
    }
    dags = {
        d.dag_id: d
        for d in session.scalars(select(Dag).where(Dag.dag_id.in_({t.dag_id for t in tis})))
    }
    starting = [t.id for t in tis if not t.continues_try]
    if starting:
        session.execute(delete(XCom).where(XCom.task_instance_id.in_(starting)))
    expires = now + lease_duration
    leased = []
    for ti in tis:
        run = runs[ti.dag_run_id]
        task = version_of(session, run.dag_content_hash).tasks.get(ti.task_id)
        ti.lease_id = secrets.token_hex(LEASE_ID_BYTES)
        ti.lease_owner = executor_id
        ti.lease_expires_at = expires
        ti.hostname = hostname
        ti.pid = None
        ti.stop_requested = False
        if ti.continues_try:
            _resume_try(session, ti, executor_id, hostname, now)
        else:
            _start_try(session, ti, executor_id, hostname, now)
        change_ti_state(session, ti, TaskInstanceState.RUNNING, now)
        leased.append(
            LeasedTry(
                ti=ti,
                run=run,
                dag=dags.get(ti.dag_id),
                expires_at=expires,
                execution_timeout=(
                    task.execution_timeout.ToTimedelta().total_seconds()
                    if task is not None and task.HasField("execution_timeout")
                    else None
                ),
                run_as_user=task.run_as_user if task is not None else "",
            )
        )
    return leased


def _start_try(
    session: Session, ti: TaskInstance, executor_id: str, hostname: str, now: datetime
) -> None:
    """Begin the next try of a queued task instance, with its own record."""
    ti.try_number += 1
    ti.start_date = now
    ti.end_date = None
    ti.duration_seconds = None
    ti.output_length = None
    ti.error_type = ti.error_message = ti.error_traceback = ""
    _add_try_record(session, ti, executor_id, hostname, now)


def _add_try_record(
    session: Session, ti: TaskInstance, executor_id: str, hostname: str, now: datetime
) -> None:
    assert ti.lease_id is not None
    session.add(
        TaskInstanceTry(
            task_instance_id=ti.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=ti.try_number,
            state=TaskInstanceState.RUNNING,
            queued_at=ti.queued_at,
            start_date=now,
            executor_id=executor_id,
            lease_id=ti.lease_id,
            hostname=hostname,
        )
    )


def _resume_try(
    session: Session, ti: TaskInstance, executor_id: str, hostname: str, now: datetime
) -> None:
    """Go on with a try that deferred or rescheduled: same try number, record and XComs.

    The try's record takes the new lease (the old process's lease id no longer counts) and
    its log goes on after the lines already stored, in chunks counted afresh by the new
    process. A reschedule-mode sensor's execution_timeout counts per poke, so its start moves;
    a deferred task's counts over the whole try, so it keeps its start.
    """
    if not ti.next_method:
        ti.start_date = now
    attempt = _try_record(session, ti)
    if attempt is None:
        _add_try_record(session, ti, executor_id, hostname, now)
        return
    assert ti.lease_id is not None
    attempt.lease_id = ti.lease_id
    attempt.executor_id = executor_id
    attempt.hostname = hostname
    attempt.state = TaskInstanceState.RUNNING
    attempt.outcome = ""
    attempt.end_date = None
    attempt.duration_seconds = None
    attempt.log_chunk_index = 0
    attempt.final_log_chunk_index = None
    attempt.process_started_at = None


def _ti_of(session: Session, lease: TryLease) -> TaskInstance | None:
    return session.scalar(
        select(TaskInstance)
        .where(
            TaskInstance.dag_id == lease.dag_id,
            TaskInstance.run_id == lease.run_id,
            TaskInstance.task_id == lease.task_id,
            TaskInstance.map_index == lease.map_index,
        )
        .with_for_update()
    )


def _lease_is_live(ti: TaskInstance | None, lease: TryLease, now: datetime) -> bool:
    return (
        ti is not None
        and ti.lease_id == lease.lease_id
        and ti.try_number == lease.try_number
        and ti.lease_expires_at is not None
        and ti.lease_expires_at > now
    )


def _lost(ti: TaskInstance | None, lease: TryLease, presented_owner: str) -> LeaseLost:
    return LeaseLost(
        "task_instance",
        lease.describe(),
        presented_owner=presented_owner,
        current_owner=(ti.lease_owner or "") if ti is not None else "",
    )


def heartbeat(
    session: Session,
    executor_id: str,
    beats: Sequence[Heartbeat],
    lease_duration: timedelta,
    now: datetime,
) -> list[HeartbeatOutcome]:
    """Renew live leases; report lost ones (never renewed) and stop requests."""
    touch_instance(session, executor_id, EXECUTOR_KIND, now, lease_duration)
    outcomes = []
    for beat in beats:
        ti = _ti_of(session, beat.lease)
        if not _lease_is_live(ti, beat.lease, now) or ti is None or ti.lease_owner != executor_id:
            outcomes.append(HeartbeatOutcome(beat.lease, LeaseStatus.LOST))
            continue
        ti.lease_expires_at = now + lease_duration
        if beat.pid:
            ti.pid = beat.pid
        if beat.hostname:
            ti.hostname = beat.hostname
        if beat.process_started_at is not None:
            attempt = _try_record(session, ti)
            if attempt is not None:
                attempt.pid = beat.pid or attempt.pid
                attempt.hostname = beat.hostname or attempt.hostname
                attempt.process_started_at = beat.process_started_at
        stopping = ti.stop_requested or ti.state == TaskInstanceState.RESTARTING
        status = LeaseStatus.STOP_REQUESTED if stopping else LeaseStatus.ACTIVE
        outcomes.append(HeartbeatOutcome(beat.lease, status, ti.lease_expires_at))
    return outcomes


def _try_record(session: Session, ti: TaskInstance) -> TaskInstanceTry | None:
    return session.scalar(
        select(TaskInstanceTry).where(
            TaskInstanceTry.task_instance_id == ti.id, TaskInstanceTry.try_number == ti.try_number
        )
    )


@dataclass(frozen=True)
class Completion:
    """An executor's report of how a try ended."""

    executor_id: str
    lease: TryLease
    ending: TryEnding
    process_started_at: datetime | None
    skip_task_ids: Sequence[str]
    xcoms: Sequence[tuple[str, str]]
    #: The try's last log lines, stored with the result.
    final_log: LogChunk | None = None
    #: The instance's name from its task's map_index_template, when it has one.
    rendered_map_index: str = ""
    #: For a try that deferred: its trigger and where it resumes.
    deferral: Deferral | None = None
    #: For a successful try: its outlets' event extras and the assets it attached to aliases.
    outlet_events: Sequence[OutletReport] = ()


def complete_task_instance(
    session: Session,
    completion: Completion,
    now: datetime,
    *,
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
    clear_task_state_on_success: bool = False,
    multi_team: bool = False,
) -> TaskInstance:
    """Apply a try's result, fenced by its lease; a repeated accepted result is answered again.

    When a mapped task maps over the task's return value, the value's length is recorded with
    the success; a value that cannot be mapped over fails the try instead (Airflow's rule).
    """
    lease = completion.lease
    ti = _ti_of(session, lease)
    if ti is not None and not _lease_is_live(ti, lease, now):
        attempt = session.scalar(
            select(TaskInstanceTry).where(
                TaskInstanceTry.task_instance_id == ti.id,
                TaskInstanceTry.try_number == lease.try_number,
                TaskInstanceTry.lease_id == lease.lease_id,
            )
        )
        if attempt is not None and attempt.outcome == completion.ending.outcome:
            return ti  # the same result, repeated after a lost answer
    if ti is None or not _lease_is_live(ti, lease, now) or ti.lease_owner != completion.executor_id:
        raise _lost(ti, lease, completion.executor_id)
    if completion.process_started_at is not None:
        attempt = _try_record(session, ti)
        if attempt is not None and attempt.process_started_at is None:
            attempt.process_started_at = completion.process_started_at
    if completion.final_log is not None:
        append_logs(session, [completion.final_log])
    for key, value in completion.xcoms:
        _put_xcom(session, ti, key, value, now)
    if completion.rendered_map_index:
        ti.rendered_map_index = completion.rendered_map_index
    ending = completion.ending
    if ending.outcome == TryOutcome.SUCCESS:
        ending = record_output_length(session, ti, ending, max_map_length)
    new_state = end_try(session, ti, ending, now)
    if new_state == TaskInstanceState.DEFERRED and completion.deferral is not None:
        defer_try(session, ti, completion.deferral, now)
    elif new_state == TaskInstanceState.UP_FOR_RESCHEDULE:
        ti.reschedule_count += 1
        ti.first_reschedule_at = ti.first_reschedule_at or ti.start_date
    if new_state == TaskInstanceState.SUCCESS:
        _record_outlets(session, ti, completion.outlet_events, now, multi_team)
    if clear_task_state_on_success and new_state == TaskInstanceState.SUCCESS:
        session.execute(delete(TaskState).where(TaskState.task_instance_id == ti.id))
    if completion.skip_task_ids:
        others = list(
            session.scalars(
                select(TaskInstance)
                .where(
                    TaskInstance.dag_run_id == ti.dag_run_id,
                    TaskInstance.task_id.in_(sorted(set(completion.skip_task_ids))),
                )
                .with_for_update()
            )
        )
        for other in others:
            if skipped_by(new_state, [other.task_id], {other.task_id: other.state}):
                other.end_date = now
                change_ti_state(session, other, TaskInstanceState.SKIPPED, now)
    return ti


def _record_outlets(
    session: Session,
    ti: TaskInstance,
    reports: Sequence[OutletReport],
    now: datetime,
    multi_team: bool,
) -> None:
    run = session.get(DagRun, ti.dag_run_id)
    task = task_definition(session, run, ti.task_id) if run is not None else None
    if run is not None and task is not None and (task.outlets or reports):
        partition = RunPartition(run.partition_key, run.partition_date)
        record_outlet_events(session, ti, task, reports, now, partition, multi_team)


def return_task_instances(
    session: Session, executor_id: str, leases: Sequence[TryLease], now: datetime
) -> int:
    """Put leased tries that never started back in the queue."""
    returned = 0
    for lease in leases:
        ti = _ti_of(session, lease)
        if ti is None or not _lease_is_live(ti, lease, now) or ti.lease_owner != executor_id:
            continue
        if ti.state != TaskInstanceState.RUNNING:
            continue
        if ti.continues_try:
            attempt = _try_record(session, ti)
            if attempt is not None:
                attempt.state = TaskInstanceState.QUEUED
        else:
            session.execute(
                delete(TaskInstanceTry).where(
                    TaskInstanceTry.task_instance_id == ti.id,
                    TaskInstanceTry.try_number == ti.try_number,
                )
            )
            ti.try_number -= 1
        ti.lease_id = ti.lease_owner = None
        ti.lease_expires_at = None
        ti.start_date = None
        change_ti_state(session, ti, TaskInstanceState.QUEUED, now)
        returned += 1
    return returned


def append_logs(session: Session, chunks: Sequence[LogChunk]) -> int:
    """Store log chunks of tries that were leased (also after the lease was lost)."""
    stored = 0
    for chunk in chunks:
        attempt = session.scalar(
            select(TaskInstanceTry)
            .where(
                TaskInstanceTry.dag_id == chunk.lease.dag_id,
                TaskInstanceTry.run_id == chunk.lease.run_id,
                TaskInstanceTry.task_id == chunk.lease.task_id,
                TaskInstanceTry.map_index == chunk.lease.map_index,
                TaskInstanceTry.try_number == chunk.lease.try_number,
                TaskInstanceTry.lease_id == chunk.lease.lease_id,
            )
            .with_for_update()
        )
        if attempt is None or chunk.chunk_index <= attempt.log_chunk_index:
            continue
        rows = [
            {
                "task_instance_id": attempt.task_instance_id,
                "try_number": attempt.try_number,
                "sequence": attempt.log_line_count + offset,
                "timestamp": line.timestamp or attempt.start_date,
                "stream": line.stream,
                "level": line.level,
                "message": line.message,
            }
            for offset, line in enumerate(chunk.lines, start=1)
        ]
        if rows:
            session.execute(insert(TaskLog), rows)
        attempt.log_line_count += len(rows)
        attempt.log_chunk_index = chunk.chunk_index
        stored += len(rows)
    return stored


def read_logs(
    session: Session, key: TaskInstanceKey, try_number: int, after: int, limit: int
) -> LogPage:
    """Log lines of one try (the latest when ``try_number`` is 0) after a sequence number."""
    ti = get_ti(session, key)
    number = try_number or ti.try_number
    attempt = session.scalar(
        select(TaskInstanceTry).where(
            TaskInstanceTry.task_instance_id == ti.id, TaskInstanceTry.try_number == number
        )
    )
    if attempt is None:
        if try_number == 0 and ti.try_number == 0:
            return LogPage([], 0, False)
        raise NotFound("try", f"{key.describe()} try {number}")
    rows = list(
        session.scalars(
            select(TaskLog)
            .where(
                TaskLog.task_instance_id == ti.id,
                TaskLog.try_number == number,
                TaskLog.sequence > after,
            )
            .order_by(TaskLog.sequence)
            .limit(limit)
        )
    )
    last_seen = rows[-1].sequence if rows else after
    ended = attempt.outcome not in ("", TryOutcome.DEFERRED, TryOutcome.RESCHEDULED)
    complete = (
        ended
        and last_seen >= attempt.log_line_count
        and (
            attempt.final_log_chunk_index is None
            or attempt.log_chunk_index >= attempt.final_log_chunk_index
        )
    )
    return LogPage(rows, number, complete)


# ---- the task API (task processes) ----


def verify_caller(session: Session, lease: TryLease, now: datetime) -> TaskInstance:
    """The task instance of a calling try, or PERMISSION_DENIED / FAILED_PRECONDITION."""
    ti = session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == lease.dag_id,
            TaskInstance.run_id == lease.run_id,
            TaskInstance.task_id == lease.task_id,
            TaskInstance.map_index == lease.map_index,
        )
    )
    known = ti is not None and session.scalar(
        select(func.count())
        .select_from(TaskInstanceTry)
        .where(
            TaskInstanceTry.task_instance_id == ti.id, TaskInstanceTry.lease_id == lease.lease_id
        )
    )
    if not lease.lease_id or ti is None or not known:
        raise Forbidden("the call does not come from a leased try (unknown lease id)")
    if not _lease_is_live(ti, lease, now):
        raise _lost(ti, lease, "task process")
    return ti


def _put_xcom(session: Session, ti: TaskInstance, key: str, value_json: str, now: datetime) -> None:
    row = session.get(XCom, (ti.id, key))
    if row is None:
        session.add(
            XCom(
                task_instance_id=ti.id,
                key=key,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                value_json=value_json,
                timestamp=now,
            )
        )
    else:
        row.value_json = value_json
        row.timestamp = now


def push_xcom(session: Session, lease: TryLease, key: str, value_json: str, now: datetime) -> None:
    """Store an XCom under the calling try's task instance."""
    ti = verify_caller(session, lease, now)
    _put_xcom(session, ti, key, value_json, now)


def get_xcoms(
    session: Session,
    lease: TryLease,
    task_ids: Sequence[str],
    key: str,
    now: datetime,
    *,
    map_index: int | None = None,
) -> list[XCom]:
    """XComs of tasks of the caller's run; no task ids means its direct upstream tasks.

    Every instance's XCom, in the order of ``task_ids`` then of map index; with ``map_index``
    only that instance's.
    """
    ti = verify_caller(session, lease, now)
    if not task_ids:
        run = session.get(DagRun, ti.dag_run_id)
        assert run is not None
        task = version_of(session, run.dag_content_hash).tasks.get(ti.task_id)
        task_ids = sorted(task.upstream_task_ids) if task is not None else []
    query = select(XCom).where(
        XCom.dag_id == ti.dag_id,
        XCom.run_id == ti.run_id,
        XCom.key == key,
        XCom.task_id.in_(list(task_ids)),
    )
    if map_index is not None:
        query = query.where(XCom.map_index == map_index)
    rows: dict[str, list[XCom]] = {}
    for row in session.scalars(query.order_by(XCom.map_index)):
        rows.setdefault(row.task_id, []).append(row)
    return [row for t in dict.fromkeys(task_ids) for row in rows.get(t, [])]


def list_xcoms(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    page: PageRequest,
    *,
    map_index: int | None = None,
) -> Page[XCom]:
    """A page of the XComs of a run (or of one of its tasks), by task, map index and key."""
    get_run(session, dag_id, run_id)
    query = select(XCom).where(XCom.dag_id == dag_id, XCom.run_id == run_id)
    if task_id:
        query = query.where(XCom.task_id == task_id)
    if map_index is not None:
        query = query.where(XCom.map_index == map_index)
    order = [(XCom.task_id, False), (XCom.map_index, False), (XCom.key, False)]
    return keyset_page(session, query, order, page)
