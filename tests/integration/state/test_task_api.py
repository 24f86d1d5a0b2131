"""TaskService scoping, the executor's long poll, and the state service's metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request

import grpc
import psycopg
import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.event.v1 import request_response_pb2 as event_rr
from protos.executor.v1.message_pb2 import LeasedTry
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.task.v1 import request_response_pb2 as task_rr
from tests.helpers.dags import make_dag, register_dags
from tests.helpers.databases import TemplateDatabases
from tests.helpers.flows import TI, claim, complete, lease, move, start_run, trigger, unique
from tests.helpers.processes import ServiceProcess, free_port
from tests.helpers.state import StateClient, start_state


async def _running_try(client: StateClient, dag_id: str, task: str = "t") -> LeasedTry:
    await register_dags(client, [make_dag(dag_id, {task: []})])
    run = await trigger(client, dag_id)
    scheduler = unique("s")
    await claim(client, scheduler)
    await start_run(client, scheduler, run)
    await move(client, scheduler, run, [task], TI.TASK_INSTANCE_STATE_QUEUED)
    (leased,) = [t for t in await lease(client, unique("e")) if t.lease.key.dag_id == dag_id]
    return leased


async def test_tasks_read_and_write_variables_and_read_connections(client: StateClient) -> None:
    leased = await _running_try(client, unique("task_api"))
    caller = leased.lease
    key = unique("var")
    missing = await client.task.GetTaskVariable(
        task_rr.GetTaskVariableRequest(caller=caller, key=key)
    )
    assert not missing.found
    await client.task.SetTaskVariable(
        task_rr.SetTaskVariableRequest(
            caller=caller, variable=resource_pb2.Variable(key=key, value="42")
        )
    )
    found = await client.task.GetTaskVariable(
        task_rr.GetTaskVariableRequest(caller=caller, key=key)
    )
    assert (found.found, found.variable.value) == (True, "42")
    public = await client.api.GetVariable(api_rr.GetVariableRequest(key=key))
    assert public.variable.value == "42"
    deleted = await client.task.DeleteTaskVariable(
        task_rr.DeleteTaskVariableRequest(caller=caller, key=key)
    )
    assert deleted.deleted

    conn_id = unique("conn")
    await client.api.SetConnection(
        api_rr.SetConnectionRequest(
            connection=resource_pb2.Connection(
                conn_id=conn_id, conn_type="postgres", host="db", password="s3cret"
            )
        )
    )
    connection = await client.task.GetTaskConnection(
        task_rr.GetTaskConnectionRequest(caller=caller, conn_id=conn_id)
    )
    assert connection.connection.password == "s3cret"
    with pytest.raises(grpc.aio.AioRpcError) as missing_conn:
        await client.task.GetTaskConnection(
            task_rr.GetTaskConnectionRequest(caller=caller, conn_id=unique("none"))
        )
    assert missing_conn.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_finished_try_can_no_longer_use_the_task_api(client: StateClient) -> None:
    leased = await _running_try(client, unique("finished"))
    caller = leased.lease
    executor_id = (
        await client.api.GetTaskInstance(api_rr.GetTaskInstanceRequest(key=caller.key))
    ).task_instance.lease_owner
    await complete(client, executor_id, leased, ti_enums.TRY_OUTCOME_SUCCESS)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.task.PushXCom(task_rr.PushXComRequest(caller=caller, value_json="1"))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_lease_long_polls_until_work_is_queued(client: StateClient) -> None:
    dag_id = unique("longpoll")
    queue = unique("q")
    await register_dags(client, [make_dag(dag_id, {"t": []}, queue=queue)])
    run = await trigger(client, dag_id)
    scheduler = unique("s")
    await claim(client, scheduler)
    await start_run(client, scheduler, run)

    started = time.monotonic()
    waiting = asyncio.ensure_future(lease(client, unique("e"), wait=10, queues=[queue]))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await move(client, scheduler, run, ["t"], TI.TASK_INSTANCE_STATE_QUEUED)
    tries = await asyncio.wait_for(waiting, 5)
    assert [t.lease.key.dag_id for t in tries] == [dag_id]
    assert time.monotonic() - started < 3

    quiet = time.monotonic()
    assert await lease(client, unique("e"), wait=0.3, queues=[unique("empty")]) == []
    assert 0.25 <= time.monotonic() - quiet < 3


def test_state_metrics_are_exposed(template_databases: TemplateDatabases, backend: str) -> None:
    port = free_port()
    state = start_state(template_databases.new_url(backend), "--metrics-port", str(port))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            page = response.read().decode()
    finally:
        state.stop()
    assert "tradewind_db_transaction_seconds_bucket" in page
    assert "tradewind_db_pool_connections_in_use" in page
    assert 'tradewind_serving{service="state"} 1.0' in page
    assert "# TYPE tradewind_leases_total counter" in page


async def test_a_subscriber_that_goes_away_ends_its_stream_cleanly(
    client: StateClient, state_service: ServiceProcess
) -> None:
    dag_id = unique("watch")
    await register_dags(client, [make_dag(dag_id, {"t": []})])
    stream = client.events.WatchEvents(event_rr.WatchEventsRequest(after_cursor=0))
    async for batch in stream:
        assert batch.events
        break
    stream.cancel()
    await asyncio.sleep(0.3)
    assert "aclose()" not in state_service.output()
    assert (
        "unexpected error in /tradewind.event.v1.EventService/WatchEvents"
        not in state_service.output()
    )


async def test_a_try_never_starts_before_the_previous_try_ended(
    client: StateClient, state_service: ServiceProcess
) -> None:
    """A lease whose transaction waited for a lock, while the previous try ended, starts after.

    Found by the fault suite: a thawed executor's lease poll waited for its own executor row
    (held by its heartbeat), the try it was about to get ended meanwhile, and the new try was
    stamped with the clock read before the wait.
    """
    url = state_service.args[state_service.args.index("--database-url") + 1]
    if not url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time: no lease waits beside another")
    dag_id, queue = unique("handover"), unique("q")
    await register_dags(client, [make_dag(dag_id, {"t": []}, retries=1, queue=queue)])
    run = await trigger(client, dag_id)
    scheduler = unique("s")
    await claim(client, scheduler)
    await start_run(client, scheduler, run)
    await move(client, scheduler, run, ["t"], TI.TASK_INSTANCE_STATE_QUEUED)
    first, waiting_executor = unique("e"), unique("e")
    (first_try,) = await lease(client, first, queues=[queue])
    assert await lease(client, waiting_executor, queues=[unique("empty")]) == []

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as holder:
        holder.execute(
            "SELECT 1 FROM service_instance WHERE instance_id = %s FOR UPDATE", (waiting_executor,)
        )
        waiting = asyncio.ensure_future(lease(client, waiting_executor, queues=[queue]))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # its transaction waits for the executor's row
        await complete(client, first, first_try, ti_enums.TRY_OUTCOME_FAILED)
        await move(
            client,
            scheduler,
            run,
            ["t"],
            TI.TASK_INSTANCE_STATE_QUEUED,
            expected_state=TI.TASK_INSTANCE_STATE_UP_FOR_RETRY,
            expected_try_number=1,
        )
        holder.rollback()
    (second_try,) = await asyncio.wait_for(waiting, 10)
    assert second_try.lease.try_number == 2
    tries = (
        await client.api.ListTaskInstanceTries(
            api_rr.ListTaskInstanceTriesRequest(dag_id=dag_id, run_id=run.run_id)
        )
    ).tries
    ended, started = (
        next(t for t in tries if t.try_number == 1).end_date,
        next(t for t in tries if t.try_number == 2).start_date,
    )
    assert ended.ToDatetime() <= started.ToDatetime()
