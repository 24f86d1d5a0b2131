"""The state store's deferral and reschedule rules, as plain functions on real databases.

A try that defers keeps its try number and record; its trigger is leased with fair shares and
expiry; the first outcome resumes it once; stale replicas, repeated events, clears and marks
change nothing they should not; a reschedule keeps the try and counts from its first poke.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.deferral import TRIGGER_FAIL_METHOD
from core.states import TaskInstanceState, TryOutcome
from services.state.db import models
from services.state.db.engine import Database
from services.state.store import deferral, execution, task_instances
from services.state.store.deferral import Deferral, TriggerOutcome
from services.state.store.execution import Completion
from services.state.store.transitions import TryEnding
from tests.helpers.store import State
from tests.integration.state.test_store_execution import complete, lease, queued

LEASE = timedelta(seconds=30)
DEFERRAL = Deferral(
    trigger_classpath="tradewind.sdk.triggers.temporal.TimeDeltaTrigger",
    trigger_kwargs_json='{"delta": 5}',
    next_method="resume",
    next_kwargs_json='{"x": 1}',
    timeout=timedelta(minutes=10),
)


def defer(database: Database, try_lease: execution.TryLease) -> models.TaskInstance:
    now = datetime.now(UTC)
    completion = Completion(
        executor_id="executor-1",
        lease=try_lease,
        ending=TryEnding(outcome=TryOutcome.DEFERRED, end_date=now),
        process_started_at=now,
        skip_task_ids=(),
        xcoms=[("pushed_before", '"kept"')],
        deferral=DEFERRAL,
    )
    return database.run_write(lambda s: execution.complete_task_instance(s, completion, now))


def sync(database: Database, triggerer: str, held: list[int], capacity: int = 100) -> Any:
    return database.run_write(
        lambda s: deferral.sync_triggers(s, triggerer, held, capacity, LEASE, datetime.now(UTC))
    )


def fire(database: Database, triggerer: str, *outcomes: TriggerOutcome) -> list[int]:
    return database.run_write(
        lambda s: deferral.fire_triggers(s, triggerer, outcomes, datetime.now(UTC))
    )


def ti_row(database: Database, task_id: str) -> models.TaskInstance:
    query = select(models.TaskInstance).where(models.TaskInstance.task_id == task_id)
    row: models.TaskInstance | None = database.run_write(lambda s: s.scalar(query))
    assert row is not None
    return row


def triggers(database: Database) -> list[models.Trigger]:
    return list(database.run_write(lambda s: list(s.scalars(select(models.Trigger)))))


def requeue(database: Database, run: Any, task_id: str, tries: int) -> None:
    outcomes, _ = run.apply(run.tis(task_id, to=State.QUEUED, frm=State.SCHEDULED, tries=tries))
    assert outcomes[0].applied, outcomes


def test_a_deferred_try_resumes_once_with_its_event(database: Database) -> None:
    run = queued(database, {"a": []}, "a")
    (first,) = lease(database)
    ti = defer(database, first)
    assert ti.state == TaskInstanceState.DEFERRED
    assert ti.next_method == "resume"
    assert ti.trigger_timeout is not None
    (trigger,) = triggers(database)
    assert trigger.classpath == DEFERRAL.trigger_classpath

    synced = sync(database, "t1", [])
    assert [t.trigger.id for t in synced.leased] == [trigger.id]
    # Another triggerer gets nothing while t1's lease lives.
    assert sync(database, "t2", []).leased == []

    event = TriggerOutcome(trigger_id=trigger.id, event_payload_json='"2026-01-01"')
    assert fire(database, "t2", event) == []  # not its trigger
    assert fire(database, "t1", event) == [trigger.id]
    assert fire(database, "t1", event) == []  # a repeated event counts once
    resumed = ti_row(database, "a")
    assert resumed.state == TaskInstanceState.SCHEDULED
    assert json.loads(resumed.next_kwargs_json) == {"x": 1, "event": "2026-01-01"}
    assert triggers(database) == []
    assert sync(database, "t1", [trigger.id]).lost == [trigger.id]

    requeue(database, run, "a", tries=1)
    leased = database.run_write(
        lambda s: execution.lease_task_instances(
            s, "executor-1", ["default"], 10, LEASE, "host", datetime.now(UTC)
        )
    )
    (again,) = leased
    # The same try goes on: same number, new lease id, its XComs kept.
    assert again.ti.try_number == first.try_number == 1
    assert again.ti.lease_id != first.lease_id
    assert again.ti.next_method == "resume"
    xcoms = database.run_write(lambda s: [x.key for x in s.scalars(select(models.XCom))])
    assert xcoms == ["pushed_before"]
    # The first process's lease no longer counts.
    stale = database.run_write(
        lambda s: s.scalar(
            select(models.TaskInstanceTry.lease_id).where(models.TaskInstanceTry.try_number == 1)
        )
    )
    assert stale == again.ti.lease_id
    done = complete(database, again.lease, TryOutcome.SUCCESS)
    assert done.state == TaskInstanceState.SUCCESS
    assert done.next_method == ""
    attempts = database.run_write(lambda s: list(s.scalars(select(models.TaskInstanceTry))))
    assert len(attempts) == 1
    assert attempts[0].outcome == TryOutcome.SUCCESS


def test_a_failed_trigger_resumes_in_fail_and_a_dead_triggerers_lease_moves(
    database: Database,
) -> None:
    queued(database, {"a": []}, "a")
    (first,) = lease(database)
    defer(database, first)
    (trigger,) = triggers(database)
    sync(database, "t1", [])

    def expire_lease(session: Any) -> None:
        row = session.get(models.Trigger, trigger.id)
        row.lease_expires_at = datetime.now(UTC) - timedelta(seconds=1)

    database.run_write(expire_lease)
    taken = sync(database, "t2", [])
    assert [t.trigger.id for t in taken.leased] == [trigger.id]
    # The dead replica's late outcome changes nothing; the new holder's counts.
    failure = TriggerOutcome(trigger_id=trigger.id, failure_message="boom", failure_traceback="tb")
    assert fire(database, "t1", failure) == []
    assert fire(database, "t2", failure) == [trigger.id]
    ti = ti_row(database, "a")
    assert ti.next_method == TRIGGER_FAIL_METHOD
    kwargs = json.loads(ti.next_kwargs_json)
    assert kwargs["error"] == "Trigger failure"
    assert kwargs["message"] == "boom"


def test_fair_shares_between_triggerers(database: Database) -> None:
    queued(database, {t: [] for t in "abcdef"}, *"abcdef")
    for try_lease in lease(database):
        defer(database, try_lease)
    assert len(sync(database, "t1", []).leased) == 6
    # A second replica appears: t1 keeps half at its next sync, t2 takes the rest.
    sync(database, "t2", [])
    held = [t.id for t in triggers(database) if t.lease_owner == "t1"]
    kept = sync(database, "t1", held)
    assert len(kept.lost) == 3
    assert len(sync(database, "t2", []).leased) == 3
    owners = sorted(t.lease_owner or "" for t in triggers(database))
    assert owners == ["t1"] * 3 + ["t2"] * 3


def test_clearing_a_deferred_instance_drops_its_trigger(database: Database) -> None:
    run = queued(database, {"a": []}, "a")
    (first,) = lease(database)
    defer(database, first)
    (trigger,) = triggers(database)
    database.run_write(
        lambda s: task_instances.clear(
            s,
            task_instances.selected(s, task_instances.Selection(dag_id="d", run_id=run.run_id)),
            datetime.now(UTC),
        )
    )
    ti = ti_row(database, "a")
    assert ti.state == TaskInstanceState.NONE
    assert ti.next_method == ""
    assert not ti.continues_try
    assert triggers(database) == []
    event = TriggerOutcome(trigger_id=trigger.id, event_payload_json="1")
    assert fire(database, "t1", event) == []


def test_a_reschedule_keeps_the_try_and_counts_from_the_first_poke(database: Database) -> None:
    run = queued(database, {"s": []}, "s")
    (first,) = lease(database)
    started = ti_row(database, "s").start_date
    now = datetime.now(UTC)
    due = now + timedelta(seconds=30)
    completion = Completion(
        executor_id="executor-1",
        lease=first,
        ending=TryEnding(outcome=TryOutcome.RESCHEDULED, end_date=now, resume_at=due),
        process_started_at=now,
        skip_task_ids=(),
        xcoms=[],
    )
    ti = database.run_write(lambda s: execution.complete_task_instance(s, completion, now))
    assert ti.state == TaskInstanceState.UP_FOR_RESCHEDULE
    assert ti.next_retry_at == due
    assert ti.reschedule_count == 1
    assert ti.first_reschedule_at == started
    outcomes, _ = run.apply(run.tis("s", to=State.QUEUED, frm=State.UP_FOR_RESCHEDULE, tries=1))
    assert outcomes[0].applied
    (again,) = database.run_write(
        lambda s: execution.lease_task_instances(
            s, "executor-1", ["default"], 10, LEASE, "host", datetime.now(UTC)
        )
    )
    assert again.ti.try_number == 1
    assert again.ti.first_reschedule_at == started
    assert complete(database, again.lease, TryOutcome.SUCCESS).state == TaskInstanceState.SUCCESS
