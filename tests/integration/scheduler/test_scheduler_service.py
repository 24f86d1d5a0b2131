"""The scheduler service against a real state service, with the test playing the executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.executor.v1.message_pb2 import LeasedTry
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.dags import make_dag, register_dags
from tests.helpers.flows import TI, complete, lease, trigger, unique
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import StateClient

RUN = dag_run_pb2


@pytest.fixture(scope="module")
def scheduler(state_service: ServiceProcess) -> Iterator[ServiceProcess]:
    process = start_service("scheduler", state_service.address, "--sweep-interval", "2")
    yield process
    process.stop()


async def run_state(client: StateClient, dag_id: str, run_id: str) -> int:
    response = await client.api.GetDagRun(
        api_rr.GetDagRunRequest(key=run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id))
    )
    return response.dag_run.state


async def wait_for_run(
    client: StateClient, dag_id: str, run_id: str, state: int, within: float = 15
) -> None:
    deadline = time.monotonic() + within
    while await run_state(client, dag_id, run_id) != state:
        assert time.monotonic() < deadline, f"run {run_id} did not reach state {state}"
        await asyncio.sleep(0.05)


async def lease_one(
    client: StateClient, executor: str, dag_id: str, within: float = 10
) -> LeasedTry:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        tries = [
            t for t in await lease(client, executor, 1, wait=1) if t.lease.key.dag_id == dag_id
        ]
        if tries:
            return tries[0]
    raise AssertionError("nothing was queued")


async def test_a_chain_runs_to_success_with_fast_hops(
    client: StateClient, scheduler: ServiceProcess
) -> None:
    dag_id = unique("chain")
    await register_dags(client, [make_dag(dag_id, {"a": [], "b": ["a"], "c": ["b"]})])
    run = await trigger(client, dag_id)
    executor = unique("e")
    hops = []
    for task in ("a", "b", "c"):
        finished = time.monotonic()
        leased = await lease_one(client, executor, dag_id)
        hops.append(time.monotonic() - finished)
        assert leased.lease.key.task_id == task
        await complete(client, executor, leased, ti_enums.TRY_OUTCOME_SUCCESS)
    await wait_for_run(client, dag_id, run.run_id, RUN.DAG_RUN_STATE_SUCCESS)
    assert max(hops[1:]) < 1.0, hops


async def test_a_failed_task_retries_after_its_delay_then_fails_the_run(
    client: StateClient, scheduler: ServiceProcess
) -> None:
    dag_id = unique("retry")
    await register_dags(client, [make_dag(dag_id, {"flaky": [], "after": ["flaky"]}, retries=1)])
    run = await trigger(client, dag_id)
    executor = unique("e")
    first = await lease_one(client, executor, dag_id)
    failed_at = time.monotonic()
    ti = await complete(client, executor, first, ti_enums.TRY_OUTCOME_FAILED)
    assert ti.state == TI.TASK_INSTANCE_STATE_UP_FOR_RETRY
    second = await lease_one(client, executor, dag_id)
    assert second.lease.try_number == 2
    assert time.monotonic() - failed_at >= 0.9  # the retry delay of make_dag is 1 s
    await complete(client, executor, second, ti_enums.TRY_OUTCOME_FAILED)
    await wait_for_run(client, dag_id, run.run_id, RUN.DAG_RUN_STATE_FAILED)
    after = await client.api.GetTaskInstance(
        api_rr.GetTaskInstanceRequest(
            key=run_pb2.TaskInstanceKey(dag_id=dag_id, run_id=run.run_id, task_id="after")
        )
    )
    assert after.task_instance.state == TI.TASK_INSTANCE_STATE_UPSTREAM_FAILED


async def test_a_two_slot_pool_never_runs_more_than_two(
    client: StateClient, scheduler: ServiceProcess
) -> None:
    pool = unique("pool")
    await client.api.SetPool(api_rr.SetPoolRequest(pool=resource_pb2.Pool(name=pool, slots=2)))
    dag_id = unique("pooled")
    await register_dags(client, [make_dag(dag_id, {f"t{i}": [] for i in range(5)}, pool=pool)])
    run = await trigger(client, dag_id)
    executor = unique("e")
    running: list[LeasedTry] = []
    peak = 0
    done = 0
    while done < 5:
        tries = [
            t for t in await lease(client, executor, 5, wait=0.5) if t.lease.key.dag_id == dag_id
        ]
        running += tries
        peak = max(peak, len(running))
        if running:
            finished = running.pop(0)
            await complete(client, executor, finished, ti_enums.TRY_OUTCOME_SUCCESS)
            done += 1
    assert peak == 2
    await wait_for_run(client, dag_id, run.run_id, RUN.DAG_RUN_STATE_SUCCESS)


async def test_max_active_runs_one_runs_one_at_a_time(
    client: StateClient, scheduler: ServiceProcess
) -> None:
    dag_id = unique("serial")
    await register_dags(client, [make_dag(dag_id, {"t": []}, max_active_runs=1)])
    first = await trigger(client, dag_id, run_id="first")
    second = await trigger(client, dag_id, run_id="second")
    executor = unique("e")
    leased = await lease_one(client, executor, dag_id)
    assert leased.lease.key.run_id == "first"
    await asyncio.sleep(0.5)
    assert await run_state(client, dag_id, second.run_id) == RUN.DAG_RUN_STATE_QUEUED
    await complete(client, executor, leased, ti_enums.TRY_OUTCOME_SUCCESS)
    await wait_for_run(client, dag_id, first.run_id, RUN.DAG_RUN_STATE_SUCCESS)
    following = await lease_one(client, executor, dag_id)
    assert following.lease.key.run_id == "second"
    await complete(client, executor, following, ti_enums.TRY_OUTCOME_SUCCESS)
    await wait_for_run(client, dag_id, second.run_id, RUN.DAG_RUN_STATE_SUCCESS)


async def test_a_cron_dag_gets_its_latest_interval_scheduled(
    client: StateClient, scheduler: ServiceProcess
) -> None:
    dag_id = unique("cron")
    await register_dags(client, [make_dag(dag_id, {"t": []}, cron="*/5 * * * *")])
    deadline = time.monotonic() + 15
    runs: list[run_pb2.DagRun] = []
    while time.monotonic() < deadline and not runs:
        listing = await client.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=dag_id))
        runs = list(listing.dag_runs)
        await asyncio.sleep(0.1)
    # One run per ended interval: normally the latest one, two if a new interval ended meanwhile.
    assert 1 <= len(runs) <= 2
    assert len({r.logical_date.ToNanoseconds() for r in runs}) == len(runs)
    created = runs[-1]
    assert created.run_type == RUN.DAG_RUN_TYPE_SCHEDULED
    assert created.run_id.startswith("scheduled__")
    start = created.data_interval_start.ToDatetime()
    end = created.data_interval_end.ToDatetime()
    assert (end - start).total_seconds() == 300
    assert start.minute % 5 == 0


async def test_a_cleared_run_starts_again_at_once(
    client: StateClient, scheduler: ServiceProcess
) -> None:
    dag_id = unique("cleared")
    await register_dags(client, [make_dag(dag_id, {"t": []})])
    run = await trigger(client, dag_id)
    executor = unique("e")
    await complete(
        client, executor, await lease_one(client, executor, dag_id), ti_enums.TRY_OUTCOME_SUCCESS
    )
    await wait_for_run(client, dag_id, run.run_id, RUN.DAG_RUN_STATE_SUCCESS)
    await client.api.ClearTaskInstances(
        api_rr.ClearTaskInstancesRequest(dag_id=dag_id, run_id=run.run_id)
    )
    cleared = time.monotonic()
    again = await lease_one(client, executor, dag_id)
    assert time.monotonic() - cleared < 2.0
    assert again.lease.try_number == 2
    await complete(client, executor, again, ti_enums.TRY_OUTCOME_SUCCESS)
    await wait_for_run(client, dag_id, run.run_id, RUN.DAG_RUN_STATE_SUCCESS)
