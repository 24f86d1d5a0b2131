"""Several state replicas on one PostgreSQL: exclusive grants, shared events, outages."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import event_pb2
from protos.event.v1 import request_response_pb2 as event_rr
from tests.helpers.dags import make_dag, register_dags
from tests.helpers.databases import TemplateDatabases, require_postgres
from tests.helpers.flows import TI, claim, lease, move, start_run, trigger, unique
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.processes import ServiceProcess, assert_eventually, health_status
from tests.helpers.state import StateClient, start_state, state_client

CLIENTS = 8


@pytest.fixture(scope="module")
def replicas(
    template_databases: TemplateDatabases, postgres_status: str | None
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    require_postgres(postgres_status)
    url = template_databases.new_url("postgresql")
    first, second = start_state(url), start_state(url)
    yield first, second
    first.stop()
    second.stop()


async def test_concurrent_leases_through_two_replicas_never_grant_a_try_twice(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    first, second = replicas
    dag_id = unique("hammer")
    tasks: dict[str, list[str]] = {f"t{i:03d}": [] for i in range(120)}
    async with state_client(first.address) as a, state_client(second.address) as b:
        await register_dags(a, [make_dag(dag_id, tasks, max_active_tasks=500)])
        run = await trigger(a, dag_id)
        scheduler = unique("s")
        await claim(a, scheduler)
        assert (await start_run(a, scheduler, run)).applied
        outcomes = await move(a, scheduler, run, sorted(tasks), TI.TASK_INSTANCE_STATE_QUEUED)
        assert all(o.applied for o in outcomes)

        granted: list[tuple[str, int]] = []

        async def executor(client: StateClient, name: str) -> None:
            while True:
                tries = [t for t in await lease(client, name, 3) if t.lease.key.dag_id == dag_id]
                if not tries:
                    return
                granted.extend((t.lease.key.task_id, t.lease.try_number) for t in tries)

        await asyncio.gather(
            *(executor(a if i % 2 else b, unique(f"e{i}")) for i in range(CLIENTS))
        )
    duplicates = [key for key, count in collections.Counter(granted).items() if count > 1]
    assert duplicates == []
    assert sorted(task for task, _ in granted) == sorted(tasks)


async def test_concurrent_claims_through_two_replicas_are_disjoint(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    first, second = replicas
    dag_id = unique("claims")
    async with state_client(first.address) as a, state_client(second.address) as b:
        await register_dags(a, [make_dag(dag_id, {"t": []})])
        runs = [await trigger(a, dag_id, run_id=f"r{i}") for i in range(40)]
        schedulers = [unique(f"s{i}") for i in range(CLIENTS)]
        results = await asyncio.gather(
            *(claim(a if i % 2 else b, name, max_runs=100) for i, name in enumerate(schedulers))
        )
    owners: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for name, keys in zip(schedulers, results, strict=True):
        for key in keys:
            owners[(key.dag_id, key.run_id)].append(name)
    assert all(len(names) == 1 for names in owners.values()), owners
    assert {(dag_id, r.run_id) for r in runs} & set(owners)


async def test_an_event_written_through_one_replica_reaches_the_other(
    replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    first, second = replicas
    dag_id = unique("events")
    async with state_client(first.address) as a, state_client(second.address) as b:
        await register_dags(a, [make_dag(dag_id, {"t": []})])
        start = (await b.events.GetLatestCursor(event_rr.GetLatestCursorRequest())).cursor
        stream = b.events.WatchEvents(event_rr.WatchEventsRequest(dag_ids=[dag_id]))
        await asyncio.sleep(0.2)
        created = [await trigger(a, dag_id, run_id=f"r{i}") for i in range(3)]

        async def first_three() -> list[str]:
            seen: list[str] = []
            async for batch in stream:
                seen += [
                    e.run_id for e in batch.events if e.type == event_pb2.EVENT_TYPE_DAG_RUN_CREATED
                ]
                if len(seen) >= 3:
                    return seen
            return seen

        assert await asyncio.wait_for(first_three(), 10) == [r.run_id for r in created]
        stream.cancel()

        # A subscriber that reconnects with a cursor gets everything after it, in order.
        replay = b.events.WatchEvents(
            event_rr.WatchEventsRequest(after_cursor=start, dag_ids=[dag_id])
        )
        cursors: list[int] = []
        async for batch in replay:
            cursors += [
                e.cursor for e in batch.events if e.type == event_pb2.EVENT_TYPE_DAG_RUN_CREATED
            ]
            if len(cursors) >= 3:
                break
        replay.cancel()
        assert cursors == sorted(cursors)
        assert len(cursors) == 3


async def test_a_database_outage_makes_calls_unavailable_and_service_recovers(
    private_postgres: PrivatePostgres,
) -> None:
    state = start_state(private_postgres.url)
    try:
        async with state_client(state.address) as client:
            dag_id = unique("outage")
            await register_dags(client, [make_dag(dag_id, {"t": []})])
            private_postgres.stop()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=dag_id), timeout=20)
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            assert_eventually(
                lambda: health_status(state.address) == health_pb2.HealthCheckResponse.NOT_SERVING,
                timeout=15,
            )
            private_postgres.start()
            assert_eventually(
                lambda: health_status(state.address) == health_pb2.HealthCheckResponse.SERVING,
                timeout=30,
            )
            run = await trigger(client, dag_id)
            assert run.dag_id == dag_id
    finally:
        state.stop()
