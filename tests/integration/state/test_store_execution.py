"""The state store's executor, task-process and person-made transitions, as plain functions.

Leases, heartbeats, results, returns and the task API's fence, then clears and marks, each with
its refusal branches, on a fresh real database of each backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.states import DagRunState, TryOutcome
from services.state.db import models
from services.state.db.engine import Database
from services.state.store import execution, pages, resources, runs, task_instances, warnings
from services.state.store.errors import Forbidden, LeaseLost
from services.state.store.execution import Completion, Heartbeat, LeaseStatus, TryLease
from services.state.store.transitions import TryEnding
from tests.helpers.store import Run, State, register, triggered

EXECUTOR = "executor-1"
LEASE = timedelta(minutes=5)


def queued(database: Database, tasks: dict[str, list[str]], *queue: str, **options: Any) -> Run:
    register(database, "d", tasks, **options)
    run = triggered(database, "d")
    outcomes, _ = run.apply(run.tis(*queue, to=State.QUEUED), [run.start()])
    assert all(o.applied for o in outcomes)
    return run


def lease(database: Database, executor: str = EXECUTOR, max_leases: int = 10) -> list[TryLease]:
    def write(session: Any) -> list[TryLease]:
        granted = execution.lease_task_instances(
            session, executor, ["default"], max_leases, LEASE, "host", datetime.now(UTC)
        )
        return [leased.lease for leased in granted]

    return database.run_write(write)


def complete(
    database: Database,
    try_lease: TryLease,
    outcome: TryOutcome,
    *,
    executor: str = EXECUTOR,
    skip: tuple[str, ...] = (),
) -> models.TaskInstance:
    now = datetime.now(UTC)
    completion = Completion(
        executor_id=executor,
        lease=try_lease,
        ending=TryEnding(outcome=outcome, end_date=now),
        process_started_at=now,
        skip_task_ids=skip,
        xcoms=[("return_value", "42")],
    )
    return database.run_write(lambda s: execution.complete_task_instance(s, completion, now))


def beat(database: Database, try_lease: TryLease, executor: str = EXECUTOR) -> LeaseStatus:
    def write(session: Any) -> LeaseStatus:
        (outcome,) = execution.heartbeat(
            session, executor, [Heartbeat(lease=try_lease, pid=123)], LEASE, datetime.now(UTC)
        )
        return outcome.status

    return database.run_write(write)


def expire(database: Database, run: Run, task_id: str) -> None:
    def write(session: Any) -> None:
        ti = session.scalar(
            select(models.TaskInstance).where(
                models.TaskInstance.dag_id == run.dag_id, models.TaskInstance.task_id == task_id
            )
        )
        ti.lease_expires_at = datetime.now(UTC) - timedelta(seconds=1)

    database.run_write(write)


def test_leasing_starts_one_try_per_queued_task_instance_once(database: Database) -> None:
    run = queued(database, {"a": [], "b": [], "c": []}, "a", "b")
    first = lease(database, max_leases=1)
    second = lease(database, executor="executor-2")
    assert len(first) == len(second) == 1
    assert {first[0].task_id, second[0].task_id} == {"a", "b"}
    assert first[0].try_number == 1
    assert first[0].lease_id != second[0].lease_id
    assert lease(database) == []  # nothing else is queued; "c" waits for the scheduler
    assert run.states() == {"a": State.RUNNING, "b": State.RUNNING, "c": State.NONE}


def test_a_heartbeat_renews_only_a_live_lease_of_its_owner(database: Database) -> None:
    run = queued(database, {"a": []}, "a")
    (try_lease,) = lease(database)
    assert beat(database, try_lease) is LeaseStatus.ACTIVE
    assert beat(database, try_lease, executor="intruder") is LeaseStatus.LOST
    forged = TryLease(try_lease.dag_id, try_lease.run_id, "a", 1, "not-the-lease")
    assert beat(database, forged) is LeaseStatus.LOST
    stale = TryLease(try_lease.dag_id, try_lease.run_id, "a", 2, try_lease.lease_id)
    assert beat(database, stale) is LeaseStatus.LOST
    expire(database, run, "a")
    assert beat(database, try_lease) is LeaseStatus.LOST


def test_a_cleared_running_try_is_told_to_stop_and_starts_over_when_it_ends(
    database: Database,
) -> None:
    run = queued(database, {"a": []}, "a")
    (try_lease,) = lease(database)
    selection = task_instances.Selection(dag_id="d", run_id="r1")

    def clear(session: Any) -> None:
        task_instances.clear(
            session, task_instances.selected(session, selection), datetime.now(UTC)
        )

    database.run_write(clear)
    assert run.states() == {"a": State.RESTARTING}
    assert run.run_state() == DagRunState.QUEUED
    assert beat(database, try_lease) is LeaseStatus.STOP_REQUESTED
    ended = complete(database, try_lease, TryOutcome.STOPPED)
    assert ended.state == State.NONE
    assert ended.try_number == 1  # the next try is try 2


def test_a_clear_takes_the_tasks_setups_and_their_teardowns_along(database: Database) -> None:
    tasks = {"create": [], "work": ["create"], "report": ["work"], "delete": ["create", "work"]}
    register(database, "d", tasks, setups=["create"], teardowns=["delete"])
    triggered(database, "d")

    def cleared(task_id: str, **options: Any) -> list[str]:
        selection = task_instances.Selection(
            dag_id="d", run_id="r1", task_ids=(task_id,), **options
        )
        return database.run_write(
            lambda s: sorted(
                ti.task_id for _, tis in task_instances.selected(s, selection) for ti in tis
            )
        )

    # As in Airflow: a work task comes back with its setup and the setup's teardown ...
    assert cleared("work", with_setups_and_teardowns=True) == ["create", "delete", "work"]
    # ... and so does a task past the teardown that still depends on the setup (report)
    # only when the setup's teardown is downstream of it: here it is not, so report is alone.
    assert cleared("report", with_setups_and_teardowns=True) == ["report"]
    # A setup comes back with its teardowns; a mark takes neither along.
    assert cleared("create", with_setups_and_teardowns=True) == ["create", "delete"]
    assert cleared("work") == ["work"]


def test_results_are_fenced_by_the_lease_and_repeats_are_answered_again(
    database: Database,
) -> None:
    run = queued(database, {"a": []}, "a")
    (try_lease,) = lease(database)
    with pytest.raises(LeaseLost, match="not by 'intruder'"):
        complete(database, try_lease, TryOutcome.SUCCESS, executor="intruder")
    assert complete(database, try_lease, TryOutcome.SUCCESS).state == State.SUCCESS
    # The executor lost the answer and reports again: the same result is accepted once more.
    assert complete(database, try_lease, TryOutcome.SUCCESS).state == State.SUCCESS
    with pytest.raises(LeaseLost):
        complete(database, try_lease, TryOutcome.FAILED)
    assert run.states() == {"a": State.SUCCESS}


def test_a_failed_try_with_retries_left_is_up_for_retry_after_its_delay(
    database: Database,
) -> None:
    run = queued(database, {"a": []}, "a", retries=2)
    (try_lease,) = lease(database)
    ended = complete(database, try_lease, TryOutcome.FAILED)
    assert ended.state == State.UP_FOR_RETRY
    assert ended.next_retry_at is not None
    assert ended.next_retry_at > datetime.now(UTC)  # the DAG's retry_delay
    assert run.states() == {"a": State.UP_FOR_RETRY}


def test_a_branch_skips_only_the_task_instances_still_waiting(database: Database) -> None:
    run = queued(database, {"branch": [], "left": ["branch"], "right": ["branch"]}, "branch")
    (try_lease,) = lease(database)
    complete(database, try_lease, TryOutcome.SUCCESS, skip=("right", "missing"))
    assert run.states() == {"branch": State.SUCCESS, "left": State.NONE, "right": State.SKIPPED}


def test_a_failed_branch_skips_nothing(database: Database) -> None:
    run = queued(database, {"branch": [], "right": ["branch"]}, "branch")
    (try_lease,) = lease(database)
    complete(database, try_lease, TryOutcome.FAILED_NO_RETRY, skip=("right",))
    assert run.states() == {"branch": State.FAILED, "right": State.NONE}


def test_a_try_that_never_started_goes_back_to_the_queue(database: Database) -> None:
    run = queued(database, {"a": []}, "a")
    (try_lease,) = lease(database)
    back = database.run_write(
        lambda s: execution.return_task_instances(s, "intruder", [try_lease], datetime.now(UTC))
    )
    assert back == 0
    back = database.run_write(
        lambda s: execution.return_task_instances(s, EXECUTOR, [try_lease], datetime.now(UTC))
    )
    assert back == 1
    assert run.states() == {"a": State.QUEUED}
    (again,) = lease(database)
    assert again.try_number == 1


def test_task_processes_reach_only_their_own_live_try(database: Database) -> None:
    run = queued(database, {"a": []}, "a")
    (try_lease,) = lease(database)
    forged = TryLease(try_lease.dag_id, try_lease.run_id, "a", 1, "guessed")
    with pytest.raises(Forbidden, match="unknown lease id"):
        database.run_write(lambda s: execution.verify_caller(s, forged, datetime.now(UTC)))
    database.run_write(lambda s: execution.push_xcom(s, try_lease, "k", '"v"', datetime.now(UTC)))
    expire(database, run, "a")
    with pytest.raises(LeaseLost):
        database.run_write(
            lambda s: execution.push_xcom(s, try_lease, "k", '"again"', datetime.now(UTC))
        )


def test_marking_a_running_task_instance_stops_its_try_and_keeps_the_mark(
    database: Database,
) -> None:
    run = queued(database, {"a": [], "b": []}, "a")
    (try_lease,) = lease(database)
    selection = task_instances.Selection(dag_id="d", run_id="r1", task_ids=("a",))

    def mark(session: Any) -> None:
        ((dag_run, tis),) = task_instances.selected(session, selection)
        task_instances.mark(session, dag_run, tis, State.SUCCESS, datetime.now(UTC), task_id="a")

    database.run_write(mark)
    assert beat(database, try_lease) is LeaseStatus.STOP_REQUESTED
    assert complete(database, try_lease, TryOutcome.STOPPED).state == State.SUCCESS
    assert run.states() == {"a": State.SUCCESS, "b": State.NONE}


def test_marking_a_run_failed_fails_running_and_skips_waiting_task_instances(
    database: Database,
) -> None:
    run = queued(database, {"a": [], "b": []}, "a")
    lease(database)
    database.run_write(
        lambda s: runs.set_run_state(s, "d", "r1", DagRunState.FAILED, "by hand", datetime.now(UTC))
    )
    assert run.states() == {"a": State.FAILED, "b": State.SKIPPED}
    assert run.run_state() == DagRunState.FAILED


def _finish(database: Database, run: Run, states: dict[str, State], run_state: DagRunState) -> None:
    def write(session: Any) -> None:
        for ti in session.scalars(
            select(models.TaskInstance).where(models.TaskInstance.dag_id == run.dag_id)
        ):
            ti.state = states[ti.task_id]
        dag_run = session.scalar(select(models.DagRun).where(models.DagRun.dag_id == run.dag_id))
        dag_run.state = run_state
        dag_run.end_date = datetime(2026, 1, 1, tzinfo=UTC)

    database.run_write(write)


def _mark(database: Database, task_id: str, state: State) -> None:
    selection = task_instances.Selection(dag_id="d", run_id="r1", task_ids=(task_id,))

    def write(session: Any) -> None:
        ((dag_run, tis),) = task_instances.selected(session, selection)
        changed = [ti for ti in tis if ti.state != state]
        task_instances.mark(session, dag_run, changed, state, datetime.now(UTC), task_id=task_id)

    database.run_write(write)


def _run_end(database: Database) -> datetime | None:
    return database.run_write(lambda s: s.scalar(select(models.DagRun.end_date)))


def test_marking_a_task_of_a_finished_run_leaves_the_run_as_it_was(database: Database) -> None:
    """Airflow's rule: marking changes task instances; only failed downstream ones rerun."""
    run = queued(database, {"a": [], "b": ["a"]}, "a")
    _finish(database, run, {"a": State.SUCCESS, "b": State.SUCCESS}, DagRunState.SUCCESS)
    _mark(database, "a", State.FAILED)
    assert run.states() == {"a": State.FAILED, "b": State.SUCCESS}
    assert run.run_state() == DagRunState.SUCCESS
    assert _run_end(database) == datetime(2026, 1, 1, tzinfo=UTC)  # its duration is unchanged


def test_marking_a_failed_task_success_reruns_its_failed_downstream(database: Database) -> None:
    run = queued(database, {"a": [], "b": ["a"], "c": ["b"], "side": []}, "a")
    states = {
        "a": State.FAILED,
        "b": State.UPSTREAM_FAILED,
        "c": State.UPSTREAM_FAILED,
        "side": State.FAILED,
    }
    _finish(database, run, states, DagRunState.FAILED)
    _mark(database, "a", State.SUCCESS)
    assert run.states() == {
        "a": State.SUCCESS,
        "b": State.NONE,
        "c": State.NONE,
        "side": State.FAILED,  # not downstream of "a": left alone
    }
    assert run.run_state() == DagRunState.QUEUED  # the scheduler decides the run again


def test_marking_a_failed_leaf_success_leaves_the_failed_run_failed(database: Database) -> None:
    run = queued(database, {"a": [], "b": []}, "a")
    _finish(database, run, {"a": State.FAILED, "b": State.FAILED}, DagRunState.FAILED)
    _mark(database, "a", State.SUCCESS)
    assert run.states() == {"a": State.SUCCESS, "b": State.FAILED}
    assert run.run_state() == DagRunState.FAILED


def test_a_dag_naming_a_missing_pool_has_a_warning_until_the_pool_exists(
    database: Database,
) -> None:
    register(database, "pooled", {"a": []}, pool="does_not_exist")

    def found() -> list[tuple[str, str, str]]:
        page = database.run_write(
            lambda s: warnings.list_dag_warnings(s, "", "", pages.page_request("w", 0, ""))
        )
        return [(w.dag_id, w.warning_type, w.message) for w in page.items]

    ((dag_id, kind, message),) = found()
    assert (dag_id, kind) == ("pooled", warnings.NON_EXISTENT_POOL)
    assert "Dag 'pooled' references non-existent pools: ['does_not_exist']" in message
    database.run_write(
        lambda s: resources.upsert_pool(
            s, "does_not_exist", slots=1, description="", include_deferred=False
        )
    )
    assert found() == []
    database.run_write(lambda s: resources.remove_pool(s, "does_not_exist"))
    assert [w[0] for w in found()] == ["pooled"]
    register(database, "pooled", {"a": []})  # a new version uses default_pool
    assert found() == []
