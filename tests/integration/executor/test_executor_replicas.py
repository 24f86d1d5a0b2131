"""Executor replicas sharing work, a frozen replica whose late result is refused, and the cost
of starting task processes (fork server against a fresh interpreter), on both backends.
"""

from __future__ import annotations

import collections
import signal
import statistics
from collections.abc import Sequence
from pathlib import Path

from protos.enums.v1 import task_instance_pb2 as ti_enums
from tests.helpers.flows import TI, trigger
from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import backend, eventually, instance_id
from tests.integration.executor.runs import (
    RUN,
    describe,
    register,
    run_to_end,
    seconds_between,
    start_executor,
    task_instance,
    tries,
    wait_for_run,
    xcom_values,
)

PAIR_TASKS = 40
PAIR_SLOTS = 4
#: Seconds an executor's leases last in the frozen-executor test.
SHORT_LEASE = 3
CHAIN_LENGTH = 20


def peak_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one instant (ends before starts)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


async def test_two_replicas_run_forty_tries_once_each_within_their_slots(
    client: StateClient,
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
) -> None:
    record = dags_folder / "spread.record"
    await register(
        client,
        dags_folder,
        "spread.py",
        f"""
        from tradewind import get_current_context

        @task(queue="pair")
        def nap() -> None:
            with open({str(record)!r}, "a") as out:
                out.write(get_current_context()["ti"].task_id + "\\n")
            time.sleep(0.3)

        with DAG("spread", schedule=None, start_date=START, max_active_tasks={PAIR_TASKS}):
            for i in range({PAIR_TASKS}):
                nap.override(task_id=f"nap_{{i:02d}}")()
        """,
        ["spread"],
    )
    flags = ("--queues", "pair", "--slots", str(PAIR_SLOTS))
    replicas = [start_executor(state_service.address, dags_folder, *flags) for _ in range(2)]
    try:
        ids = {await instance_id(replica) for replica in replicas}
        run = await run_to_end(client, "spread", within=60)
    finally:
        for replica in replicas:
            replica.stop()
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    history = await tries(client, run)
    assert sorted((t.key.task_id, t.try_number) for t in history) == [
        (f"nap_{i:02d}", 1) for i in range(PAIR_TASKS)
    ]
    assert {t.outcome for t in history} == {ti_enums.TRY_OUTCOME_SUCCESS}
    # Each task's code ran exactly once.
    ran = collections.Counter(record.read_text().split())
    assert ran == {f"nap_{i:02d}": 1 for i in range(PAIR_TASKS)}
    per_executor = collections.Counter(t.executor_id for t in history)
    assert set(per_executor) == ids, per_executor
    assert min(per_executor.values()) >= PAIR_TASKS // 4, per_executor
    # From lease to reported result: the widest view of "running".
    held = [
        (t.start_date.ToDatetime().timestamp(), t.end_date.ToDatetime().timestamp())
        for t in history
    ]
    peak = peak_overlap(held)
    print(
        f"\n[executor {backend(state_service)}] {PAIR_TASKS} tries"
        f" on 2x{PAIR_SLOTS} slots: peak {peak} at once,"
        f" per executor {sorted(per_executor.values())}"
    )
    assert PAIR_SLOTS < peak <= 2 * PAIR_SLOTS


async def test_a_frozen_executors_late_result_is_refused(
    client: StateClient,
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
) -> None:
    started = dags_folder / "frozen.started"
    await register(
        client,
        dags_folder,
        "frozen.py",
        f"""
        from tradewind import get_current_context

        @task(queue="frozen", retries=1, retry_delay=timedelta(seconds=0))
        def work() -> str:
            number = get_current_context()["ti"].try_number
            with open({str(started)!r}, "a") as out:
                out.write(f"{{number}}\\n")
            if number == 1:
                time.sleep({SHORT_LEASE + 1})
            return f"try {{number}}"

        with DAG("frozen", schedule=None, start_date=START):
            work()
        """,
        ["frozen"],
    )
    flags = ("--queues", "frozen", "--lease-duration", str(SHORT_LEASE), "--slots", "1")
    frozen = start_executor(state_service.address, dags_folder, *flags)
    standby: ServiceProcess | None = None
    try:
        frozen_id = await instance_id(frozen)
        run = await trigger(client, "frozen")

        async def first_try_running() -> bool:
            return started.exists() and started.read_text().split() == ["1"]

        await eventually(first_try_running, what="the first try's process started")
        ti = await task_instance(client, run, "work")
        assert (ti.state, ti.lease_owner, ti.try_number) == (
            TI.TASK_INSTANCE_STATE_RUNNING,
            frozen_id,
            1,
        )
        frozen.signal(signal.SIGSTOP)
        try:
            standby = start_executor(state_service.address, dags_folder, *flags)
            standby_id = await instance_id(standby)
            finished = await wait_for_run(client, "frozen", run.run_id, within=SHORT_LEASE + 15)
        finally:
            frozen.signal(signal.SIGCONT)
        assert finished.state == RUN.DAG_RUN_STATE_SUCCESS

        async def refused() -> bool:
            output = frozen.output()
            return "result refused" in output or "result dropped" in output

        await eventually(refused, within=SHORT_LEASE + 10, what="the late result refused")
        ti = await task_instance(client, run, "work")
        assert (ti.state, ti.try_number) == (TI.TASK_INSTANCE_STATE_SUCCESS, 2)
        assert await xcom_values(client, run, "work") == {"return_value": '"try 2"'}
        first, second = await tries(client, run)
        assert (first.try_number, first.outcome, first.executor_id) == (
            1,
            ti_enums.TRY_OUTCOME_LEASE_EXPIRED,
            frozen_id,
        )
        assert (second.try_number, second.outcome, second.executor_id) == (
            2,
            ti_enums.TRY_OUTCOME_SUCCESS,
            standby_id,
        )
        assert started.read_text().split() == ["1", "2"]
    finally:
        frozen.stop()
        if standby is not None:
            standby.stop()


async def _chain_figures(
    client: StateClient, executor: ServiceProcess, dag_id: str
) -> tuple[list[float], list[float], float]:
    """Run the chain DAG on ``executor``; return (queued→running, lease→result, wall) seconds."""
    try:
        run = await run_to_end(client, dag_id, within=60)
    finally:
        executor.stop()
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    history = await tries(client, run)
    assert len(history) == CHAIN_LENGTH
    queued_to_running = [seconds_between(t.queued_at, t.process_started_at) for t in history]
    per_try = [seconds_between(t.start_date, t.end_date) for t in history]
    wall = seconds_between(run.start_date, run.end_date)
    return queued_to_running, per_try, wall


async def test_fork_server_against_fresh_interpreter(
    client: StateClient,
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
) -> None:
    await register(
        client,
        dags_folder,
        "chain.py",
        f"""
        from tradewind import PythonOperator, chain

        def nothing() -> None:
            return None

        with DAG("chain", schedule=None, start_date=START, max_active_runs=1):
            chain(*[
                PythonOperator(task_id=f"t{{i:02d}}", python_callable=nothing, queue="bench")
                for i in range({CHAIN_LENGTH})
            ])
        """,
        ["chain"],
    )
    figures: dict[str, tuple[list[float], list[float], float]] = {}
    for launcher, flags in (("fork server", ()), ("fresh interpreter", ("--no-fork-server",))):
        executor = start_executor(state_service.address, dags_folder, "--queues", "bench", *flags)
        figures[launcher] = await _chain_figures(client, executor, "chain")
    where = backend(state_service)
    print()
    for launcher, (queued_to_running, per_try, wall) in figures.items():
        print(
            f"[executor {where}] {launcher}: queued->running {describe(queued_to_running)};"
            f" lease->result per try {describe(per_try)};"
            f" {CHAIN_LENGTH}-task chain in {wall:.2f} s"
        )
    fork = statistics.median(figures["fork server"][1])
    fresh = statistics.median(figures["fresh interpreter"][1])
    print(f"[executor {where}] fork server saves {(fresh - fork) * 1000:.0f} ms per try (median)")
    assert fork < fresh


async def test_sigterm_lets_running_tries_finish_within_the_grace_then_terminates_them(
    client: StateClient,
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
) -> None:
    started = dags_folder / "draining.started"
    await register(
        client,
        dags_folder,
        "draining.py",
        f"""
        @task(queue="draining")
        def quick() -> str:
            Path({str(started)!r} + ".quick").touch()
            time.sleep(0.5)
            return "finished in the grace"

        @task(queue="draining")
        def slow() -> None:
            Path({str(started)!r} + ".slow").touch()
            time.sleep(60)

        with DAG("draining", schedule=None, start_date=START):
            quick()
            slow()
        """,
        ["draining"],
    )
    executor = start_executor(
        state_service.address,
        dags_folder,
        "--queues",
        "draining",
        "--grace-period",
        "2",
        "--kill-grace",
        "1",
    )
    try:
        run = await trigger(client, "draining")

        markers = [started.with_name(f"{started.name}.{name}") for name in ("quick", "slow")]

        async def both_started() -> bool:
            return all(marker.exists() for marker in markers)

        await eventually(both_started, what="both tries started")
        executor.signal(signal.SIGTERM)
        assert executor.wait(timeout=20) == 0
    finally:
        executor.stop()
    finished = await wait_for_run(client, "draining", run.run_id)
    assert finished.state == RUN.DAG_RUN_STATE_FAILED
    outcomes = {t.key.task_id: t.outcome for t in await tries(client, run)}
    assert outcomes == {
        "quick": ti_enums.TRY_OUTCOME_SUCCESS,
        "slow": ti_enums.TRY_OUTCOME_TERMINATED,
    }
    assert await xcom_values(client, run, "quick") == {"return_value": '"finished in the grace"'}
