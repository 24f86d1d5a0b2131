"""The state store's scheduler transitions, called as plain functions on each backend.

Every refusal branch of :func:`services.state.store.apply.apply_transitions` and of
:func:`services.state.store.scheduling.advance_schedule`, on a fresh real database: no gRPC, no
service process, the same transaction code the servicers run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.states import DagRunState, DagRunType, TryOutcome
from services.state.db import models
from services.state.db.engine import Database
from services.state.store import scheduling
from services.state.store.admission import Refusal
from services.state.store.apply import TaskInstanceTransition
from services.state.store.runs import NewRun
from services.state.store.scheduling import NextRun, ScheduleAdvance
from tests.helpers.store import NOW, Run, State, refusals, register, triggered


def test_a_start_and_its_first_queueing_hold_in_one_batch(database: Database) -> None:
    register(database, "d", {"a": [], "b": ["a"]})
    run = triggered(database, "d")
    ti_outcomes, (started,) = run.apply(run.tis("a", to=State.QUEUED), [run.start()])
    assert started.applied
    assert [o.applied for o in ti_outcomes] == [True]
    assert run.run_state() == DagRunState.RUNNING
    assert run.states() == {"a": State.QUEUED, "b": State.NONE}


def test_task_instances_move_only_in_a_running_run(database: Database) -> None:
    register(database, "d", {"a": []}, max_active_runs=1)
    first = triggered(database, "d", "r1")
    second = triggered(database, "d", "r2")
    assert first.apply((), [first.start()])[1][0].applied
    (queued,), (start,) = second.apply(second.tis("a", to=State.QUEUED), [second.start()])
    assert start.refusal is Refusal.ACTIVE_RUNS_LIMIT
    assert queued.refusal is Refusal.RUN_NOT_RUNNING
    assert second.states() == {"a": State.NONE}
    (alone,), _ = second.apply(second.tis("a", to=State.QUEUED))
    assert alone.refusal is Refusal.RUN_NOT_RUNNING


def test_unknown_unclaimed_stale_conflicting_and_illegal_items_are_refused(
    database: Database,
) -> None:
    register(database, "d", {"a": [], "b": [], "c": []})
    run = triggered(database, "d")
    run.apply((), [run.start()])
    (missing,), _ = run.apply(run.tis("nope", to=State.QUEUED))
    assert missing.refusal is Refusal.NOT_FOUND
    (unclaimed,), _ = run.apply(run.tis("a", to=State.QUEUED), scheduler="someone-else")
    assert unclaimed.refusal is Refusal.RUN_NOT_CLAIMED
    (expired_claim,), _ = run.apply(run.tis("a", to=State.QUEUED), now=NOW + timedelta(days=2))
    assert expired_claim.refusal is Refusal.RUN_NOT_CLAIMED
    first, again = run.apply(run.tis("a", "a", to=State.SCHEDULED))[0]
    assert first.applied
    assert again.refusal is Refusal.STATE_CONFLICT
    assert again.actual_state == State.SCHEDULED
    (wrong_try,), _ = run.apply(run.tis("b", to=State.QUEUED, tries=3))
    assert (wrong_try.refusal, wrong_try.actual_try_number) == (Refusal.STATE_CONFLICT, 0)
    (illegal,), _ = run.apply(run.tis("c", to=State.SUCCESS))
    assert illegal.refusal is Refusal.ILLEGAL_TRANSITION
    stale = Run(database, "d", "r1", generation=run.generation + 1)
    (old,), _ = stale.apply(stale.tis("c", to=State.QUEUED))
    assert old.refusal is Refusal.STALE_GENERATION
    assert run.states() == {"a": State.SCHEDULED, "b": State.NONE, "c": State.NONE}


def test_capacity_refusals_leave_the_task_instance_scheduled(database: Database) -> None:
    register(database, "tight", {f"t{i}": [] for i in range(4)}, max_active_tasks=2)
    run = triggered(database, "tight")
    run.apply((), [run.start()])
    outcomes, _ = run.apply(run.tis("t0", "t1", "t2", to=State.QUEUED))
    assert refusals(outcomes) == [None, None, Refusal.DAG_CONCURRENCY_LIMIT]
    assert outcomes[2].actual_state == State.SCHEDULED
    assert run.states()["t2"] == State.SCHEDULED

    database.run_write(lambda s: s.add(models.Pool(name="one", slots=1, description="")))
    register(database, "pooled", {"p0": [], "p1": []}, pool="one")
    pooled = triggered(database, "pooled")
    pooled.apply((), [pooled.start()])
    outcomes, _ = pooled.apply(pooled.tis("p0", "p1", to=State.QUEUED))
    assert refusals(outcomes) == [None, Refusal.POOL_FULL]
    assert pooled.states() == {"p0": State.QUEUED, "p1": State.SCHEDULED}

    register(database, "nopool", {"x": []}, pool="does_not_exist")
    nopool = triggered(database, "nopool")
    nopool.apply((), [nopool.start()])
    (x,), _ = nopool.apply(nopool.tis("x", to=State.QUEUED))
    assert x.refusal is Refusal.POOL_FULL


def test_a_shrunk_pool_is_full_not_unlimited(database: Database) -> None:
    database.run_write(lambda s: s.add(models.Pool(name="small", slots=2, description="")))
    register(database, "d", {"a": [], "b": [], "c": []}, pool="small")
    run = triggered(database, "d")
    run.apply((), [run.start()])
    assert all(o.applied for o in run.apply(run.tis("a", "b", to=State.QUEUED))[0])

    def shrink(session: Any) -> None:
        session.get(models.Pool, "small").slots = 1

    database.run_write(shrink)
    (c,), _ = run.apply(run.tis("c", to=State.QUEUED))
    assert c.refusal is Refusal.POOL_FULL


def test_a_paused_dag_queues_nothing(database: Database) -> None:
    register(database, "d", {"a": []})
    run = triggered(database, "d")
    run.apply((), [run.start()])

    def pause(session: Any) -> None:
        session.get(models.Dag, "d").is_paused = True

    database.run_write(pause)
    (a,), _ = run.apply(run.tis("a", to=State.QUEUED))
    assert (a.refusal, a.actual_state) == (Refusal.DAG_PAUSED, State.SCHEDULED)


def test_a_run_ends_only_if_every_transition_of_its_decision_held(database: Database) -> None:
    register(database, "d", {"a": [], "b": []})
    run = triggered(database, "d")
    run.apply((), [run.start()])
    skips = run.tis("a", to=State.SKIPPED) + run.tis("b", frm=State.SCHEDULED, to=State.SKIPPED)
    (a, b), (end,) = run.apply(skips, [run.run_move(DagRunState.RUNNING, DagRunState.SUCCESS)])
    assert a.applied
    assert b.refusal is Refusal.STATE_CONFLICT
    assert end.refusal is Refusal.STATE_CONFLICT
    assert run.run_state() == DagRunState.RUNNING
    (b,), (end,) = run.apply(
        run.tis("b", to=State.SKIPPED), [run.run_move(DagRunState.RUNNING, DagRunState.SUCCESS)]
    )
    assert b.applied
    assert end.applied
    assert run.run_state() == DagRunState.SUCCESS


def test_run_transitions_refuse_stale_conflicting_and_illegal_moves(database: Database) -> None:
    register(database, "d", {"a": []})
    run = triggered(database, "d")
    _, (unclaimed,) = run.apply((), [run.start()], scheduler="other")
    assert unclaimed.refusal is Refusal.RUN_NOT_CLAIMED
    _, (illegal,) = run.apply((), [run.run_move(DagRunState.QUEUED, DagRunState.SUCCESS)])
    assert illegal.refusal is Refusal.ILLEGAL_TRANSITION
    _, (conflict,) = run.apply((), [run.run_move(DagRunState.RUNNING, DagRunState.SUCCESS)])
    assert (conflict.refusal, conflict.actual_state) == (
        Refusal.STATE_CONFLICT,
        DagRunState.QUEUED,
    )
    stale = Run(database, "d", "r1", generation=5)
    _, (old,) = stale.apply((), [stale.start()])
    assert old.refusal is Refusal.STALE_GENERATION
    missing = Run(database, "d", "nope")
    _, (gone,) = missing.apply((), [missing.start()])
    assert gone.refusal is Refusal.NOT_FOUND
    assert run.run_state() == DagRunState.QUEUED


def _lease(database: Database, run: Run, task_id: str, expires: datetime) -> None:
    def write(session: Any) -> None:
        ti = session.scalar(
            select(models.TaskInstance).where(
                models.TaskInstance.dag_id == run.dag_id,
                models.TaskInstance.run_id == run.run_id,
                models.TaskInstance.task_id == task_id,
            )
        )
        ti.state, ti.try_number = State.RUNNING, 1
        ti.lease_id, ti.lease_owner, ti.lease_expires_at = "lease", "executor", expires
        ti.start_date = NOW - timedelta(minutes=1)
        session.add(
            models.TaskInstanceTry(
                task_instance_id=ti.id,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                try_number=1,
                state=State.RUNNING,
                start_date=ti.start_date,
                executor_id="executor",
                lease_id="lease",
            )
        )

    database.run_write(write)


def end_try(run: Run, task_id: str, outcome: TryOutcome) -> TaskInstanceTransition:
    """The scheduler ending try 1 of a running task instance, without retries."""
    return TaskInstanceTransition(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=task_id,
        expected_state=State.RUNNING,
        expected_try_number=1,
        new_state=State.FAILED,
        expected_run_generation=run.generation,
        outcome=outcome,
    )


def test_a_live_lease_cannot_be_declared_expired_but_a_timeout_ends_it(database: Database) -> None:
    register(database, "d", {"a": [], "b": []})
    run = triggered(database, "d")
    run.apply((), [run.start()])
    now = datetime.now(UTC)
    _lease(database, run, "a", now + timedelta(minutes=5))
    _lease(database, run, "b", now + timedelta(minutes=5))
    expire = [end_try(run, "a", TryOutcome.LEASE_EXPIRED)]
    (early,), _ = run.apply(expire)
    assert early.refusal is Refusal.STATE_CONFLICT
    (late,), _ = run.apply(expire, now=now + timedelta(minutes=6))
    assert late.applied
    timeout = [end_try(run, "b", TryOutcome.TIMED_OUT)]
    (timed_out,), _ = run.apply(timeout)
    assert timed_out.applied
    assert run.states() == {"a": State.FAILED, "b": State.FAILED}


def _advance(database: Database, step: ScheduleAdvance) -> scheduling.AdvanceOutcome:
    return database.run_write(lambda s: scheduling.advance_schedule(s, step, NOW))


def test_schedule_steps_are_compare_and_set_on_the_pointer(database: Database) -> None:
    register(database, "cron", {"a": []}, cron="0 * * * *")
    content_hash = str(database.run_write(lambda s: s.scalar(select(models.Dag.content_hash))))
    first = NextRun(
        logical_date=NOW,
        data_interval_start=NOW,
        data_interval_end=NOW + timedelta(hours=1),
        create_after=NOW + timedelta(hours=1),
    )
    point = ScheduleAdvance(
        dag_id="cron",
        expected_content_hash=content_hash,
        expected_next_logical_date=None,
        next=first,
    )
    assert _advance(database, point).applied
    assert _advance(database, point).refusal is Refusal.STATE_CONFLICT
    new_run = NewRun(
        run_id="scheduled__x",
        run_type=DagRunType.SCHEDULED,
        logical_date=NOW,
        data_interval_start=NOW,
        data_interval_end=NOW + timedelta(hours=1),
    )
    create = ScheduleAdvance(
        dag_id="cron",
        expected_content_hash=content_hash,
        expected_next_logical_date=NOW,
        run=new_run,
        next=None,
    )
    wrong_version = ScheduleAdvance(
        dag_id="cron",
        expected_content_hash="0" * 64,
        expected_next_logical_date=NOW,
        run=new_run,
    )
    assert _advance(database, wrong_version).refusal is Refusal.STATE_CONFLICT
    made = _advance(database, create)
    assert made.applied
    assert made.run is not None
    assert made.run.run_id == "scheduled__x"
    assert database.run_write(lambda s: s.scalar(select(models.Dag.schedule_exhausted)))
    missing = ScheduleAdvance(
        dag_id="nope", expected_content_hash="", expected_next_logical_date=None
    )
    assert _advance(database, missing).refusal is Refusal.NOT_FOUND

    register(database, "paused", {"a": []}, cron="0 * * * *", paused=True)
    paused = ScheduleAdvance(
        dag_id="paused", expected_content_hash="", expected_next_logical_date=None, next=first
    )
    assert _advance(database, paused).refusal is Refusal.DAG_PAUSED


def test_a_second_run_with_the_same_id_is_not_created(database: Database) -> None:
    register(database, "cron", {"a": []}, cron="0 * * * *")
    triggered(database, "cron", "scheduled__dup", claim=False)
    step = ScheduleAdvance(
        dag_id="cron",
        expected_content_hash="",
        expected_next_logical_date=None,
        run=NewRun(
            run_id="scheduled__dup",
            run_type=DagRunType.SCHEDULED,
            logical_date=NOW,
            data_interval_start=NOW,
            data_interval_end=NOW,
        ),
    )
    assert _advance(database, step).refusal is Refusal.STATE_CONFLICT
