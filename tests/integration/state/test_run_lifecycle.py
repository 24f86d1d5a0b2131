"""A run from trigger to its end through every internal API, on both backends."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import event_pb2, transition_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.errordetails.v1 import message_pb2 as errordetails
from protos.event.v1 import request_response_pb2 as event_rr
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.executor.v1 import request_response_pb2 as executor_rr
from protos.run.v1 import message_pb2 as run_pb2
from protos.task.v1 import request_response_pb2 as task_rr
from tests.helpers.dags import make_dag, register_dags, seconds
from tests.helpers.flows import (
    TI,
    claim,
    complete,
    error_detail,
    lease,
    move,
    snapshot,
    start_run,
    trigger,
    unique,
)
from tests.helpers.state import StateClient


async def test_a_run_goes_from_trigger_to_failure(client: StateClient) -> None:
    dag_id = unique("lifecycle")
    await register_dags(client, [make_dag(dag_id, {"extract": [], "load": ["extract"]})])
    cursor = (await client.events.GetLatestCursor(event_rr.GetLatestCursorRequest())).cursor

    request_id = unique("req")
    run = await trigger(client, dag_id, conf_json='{"x": 1}', request_id=request_id)
    again = await trigger(client, dag_id, conf_json='{"x": 1}', request_id=request_id)
    assert again.run_id == run.run_id
    assert json.loads(run.conf_json) == {"x": 1}

    scheduler = unique("scheduler")
    assert any(k.run_id == run.run_id for k in await claim(client, scheduler))
    assert (await start_run(client, scheduler, run)).applied
    current = await snapshot(client, scheduler, run)
    assert [t.state for t in current.task_instances] == [TI.TASK_INSTANCE_STATE_NONE] * 2
    (queued,) = await move(client, scheduler, run, ["extract"], TI.TASK_INSTANCE_STATE_QUEUED)
    assert queued.applied

    executor = unique("executor")
    (extract,) = await lease(client, executor)
    assert extract.lease.key.task_id == "extract"
    assert extract.lease.try_number == 1
    assert extract.relative_fileloc == f"{dag_id}.py"

    await client.task.PushXCom(
        task_rr.PushXComRequest(caller=extract.lease, value_json='{"rows": 3}')
    )
    await client.executor.AppendTaskLogs(
        executor_rr.AppendTaskLogsRequest(
            executor_id=executor,
            chunks=[
                executor_pb2.TryLogChunk(
                    lease=extract.lease,
                    chunk_index=1,
                    lines=[run_pb2.LogLine(message="starting"), run_pb2.LogLine(message="3 rows")],
                )
            ],
        )
    )
    beat = await client.executor.HeartbeatTaskInstances(
        executor_rr.HeartbeatTaskInstancesRequest(
            executor_id=executor,
            heartbeats=[executor_pb2.TryHeartbeat(lease=extract.lease, pid=1234)],
            lease_duration=seconds(30),
        )
    )
    assert beat.outcomes[0].status == transition_pb2.LEASE_STATUS_ACTIVE
    done = await complete(
        client, executor, extract, ti_enums.TRY_OUTCOME_SUCCESS, last_log_chunk_index=1
    )
    assert done.state == TI.TASK_INSTANCE_STATE_SUCCESS

    logs = await client.api.GetTaskInstanceLogs(
        api_rr.GetTaskInstanceLogsRequest(key=extract.lease.key)
    )
    assert [line.message for line in logs.lines] == ["starting", "3 rows"]
    assert [line.sequence for line in logs.lines] == [1, 2]
    assert logs.complete

    (queued,) = await move(client, scheduler, run, ["load"], TI.TASK_INSTANCE_STATE_QUEUED)
    assert queued.applied
    (load,) = await lease(client, executor)
    xcoms = await client.task.GetXComs(task_rr.GetXComsRequest(caller=load.lease))
    assert [(x.key.task_id, json.loads(x.value_json)) for x in xcoms.xcoms] == [
        ("extract", {"rows": 3})
    ]
    failed = await complete(
        client,
        executor,
        load,
        ti_enums.TRY_OUTCOME_FAILED,
        error=run_pb2.TryError(exception_type="ValueError", message="bad row"),
    )
    assert failed.state == TI.TASK_INSTANCE_STATE_FAILED
    assert failed.last_error.exception_type == "ValueError"

    tries = await client.api.ListTaskInstanceTries(
        api_rr.ListTaskInstanceTriesRequest(dag_id=dag_id)
    )
    assert [(t.key.task_id, t.try_number, t.executor_id) for t in tries.tries] == [
        ("extract", 1, executor),
        ("load", 1, executor),
    ]
    assert tries.tries[0].HasField("end_date")

    events = client.events.WatchEvents(
        event_rr.WatchEventsRequest(after_cursor=cursor, dag_ids=[dag_id])
    )
    seen: list[tuple[str, int]] = []
    async for batch in events:
        for event in batch.events:
            if event.type == event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED:
                seen.append((event.task_id, event.task_instance_state))
        if ("load", TI.TASK_INSTANCE_STATE_FAILED) in seen:
            break
    events.cancel()
    assert seen == [
        ("extract", TI.TASK_INSTANCE_STATE_QUEUED),
        ("extract", TI.TASK_INSTANCE_STATE_RUNNING),
        ("extract", TI.TASK_INSTANCE_STATE_SUCCESS),
        ("load", TI.TASK_INSTANCE_STATE_QUEUED),
        ("load", TI.TASK_INSTANCE_STATE_RUNNING),
        ("load", TI.TASK_INSTANCE_STATE_FAILED),
    ]


async def test_a_result_from_an_expired_lease_is_refused(client: StateClient) -> None:
    dag_id = unique("fencing")
    await register_dags(client, [make_dag(dag_id, {"t": []}, retries=1)])
    run = await trigger(client, dag_id)
    scheduler, slow, fast = unique("s"), unique("slow"), unique("fast")
    await claim(client, scheduler)
    await start_run(client, scheduler, run)
    await move(client, scheduler, run, ["t"], TI.TASK_INSTANCE_STATE_QUEUED)
    (stale,) = [t for t in await lease(client, slow, duration=0.3) if t.lease.key.dag_id == dag_id]
    await asyncio.sleep(0.6)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await complete(client, slow, stale, ti_enums.TRY_OUTCOME_SUCCESS)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    detail = error_detail(refused.value, errordetails.LeaseLostFailure)
    assert detail.presented_owner == slow
    still = await client.api.GetTaskInstance(api_rr.GetTaskInstanceRequest(key=stale.lease.key))
    assert still.task_instance.state == TI.TASK_INSTANCE_STATE_RUNNING

    beat = await client.executor.HeartbeatTaskInstances(
        executor_rr.HeartbeatTaskInstancesRequest(
            executor_id=slow,
            heartbeats=[executor_pb2.TryHeartbeat(lease=stale.lease)],
            lease_duration=seconds(30),
        )
    )
    assert beat.outcomes[0].status == transition_pb2.LEASE_STATUS_LOST

    (expired,) = await move(
        client,
        scheduler,
        run,
        ["t"],
        TI.TASK_INSTANCE_STATE_UP_FOR_RETRY,
        expected_state=TI.TASK_INSTANCE_STATE_RUNNING,
        expected_try_number=1,
    )
    assert expired.applied
    (requeued,) = await move(
        client,
        scheduler,
        run,
        ["t"],
        TI.TASK_INSTANCE_STATE_QUEUED,
        expected_state=TI.TASK_INSTANCE_STATE_UP_FOR_RETRY,
        expected_try_number=1,
    )
    assert requeued.applied
    (retry,) = [t for t in await lease(client, fast) if t.lease.key.dag_id == dag_id]
    assert retry.lease.try_number == 2

    with pytest.raises(grpc.aio.AioRpcError) as refused_again:
        await complete(client, slow, stale, ti_enums.TRY_OUTCOME_SUCCESS)
    assert refused_again.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    done = await complete(client, fast, retry, ti_enums.TRY_OUTCOME_SUCCESS)
    assert done.state == TI.TASK_INSTANCE_STATE_SUCCESS
    assert done.try_number == 2


async def test_stale_and_unclaimed_transitions_are_refused(client: StateClient) -> None:
    dag_id = unique("cas")
    await register_dags(client, [make_dag(dag_id, {"a": [], "b": []})])
    run = await trigger(client, dag_id)
    owner, other = unique("owner"), unique("other")
    await claim(client, owner)
    assert (await start_run(client, owner, run)).applied
    (not_claimed,) = await move(client, other, run, ["a"], TI.TASK_INSTANCE_STATE_SCHEDULED)
    assert not_claimed.refusal == transition_pb2.TRANSITION_REFUSAL_RUN_NOT_CLAIMED
    first, stale = await move(client, owner, run, ["a", "a"], TI.TASK_INSTANCE_STATE_SCHEDULED)
    assert first.applied
    assert stale.refusal == transition_pb2.TRANSITION_REFUSAL_STATE_CONFLICT
    assert stale.actual_task_instance_state == TI.TASK_INSTANCE_STATE_SCHEDULED
    (illegal,) = await move(client, owner, run, ["b"], TI.TASK_INSTANCE_STATE_SUCCESS)
    assert illegal.refusal == transition_pb2.TRANSITION_REFUSAL_ILLEGAL_TRANSITION

    await client.api.ClearTaskInstances(
        api_rr.ClearTaskInstancesRequest(dag_id=dag_id, run_id=run.run_id)
    )
    (old_generation,) = await move(client, owner, run, ["b"], TI.TASK_INSTANCE_STATE_SCHEDULED)
    assert old_generation.refusal == transition_pb2.TRANSITION_REFUSAL_STALE_GENERATION


async def test_queueing_respects_max_active_tasks(client: StateClient) -> None:
    dag_id = unique("limits")
    await register_dags(
        client, [make_dag(dag_id, {f"t{i}": [] for i in range(5)}, max_active_tasks=2)]
    )
    run = await trigger(client, dag_id)
    scheduler = unique("s")
    await claim(client, scheduler)
    assert (await start_run(client, scheduler, run)).applied
    outcomes = await move(
        client, scheduler, run, [f"t{i}" for i in range(5)], TI.TASK_INSTANCE_STATE_QUEUED
    )
    assert [o.applied for o in outcomes] == [True, True, False, False, False]
    assert {o.refusal for o in outcomes[2:]} == {
        transition_pb2.TRANSITION_REFUSAL_DAG_CONCURRENCY_LIMIT
    }
    # Their dependencies are met: they wait in scheduled, as in Airflow.
    assert {o.actual_task_instance_state for o in outcomes[2:]} == {
        TI.TASK_INSTANCE_STATE_SCHEDULED
    }


async def test_malformed_internal_requests_name_the_field(client: StateClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await lease(client, "", 1)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "executor_id" in (raised.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.executor.CompleteTaskInstance(
            executor_rr.CompleteTaskInstanceRequest(
                executor_id="e",
                lease=run_pb2.TryLease(
                    key=run_pb2.TaskInstanceKey(dag_id="d", run_id="r", task_id="t"),
                    try_number=1,
                    lease_id="x",
                ),
            )
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "outcome" in (raised.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.task.PushXCom(
            task_rr.PushXComRequest(
                caller=run_pb2.TryLease(
                    key=run_pb2.TaskInstanceKey(dag_id="d", run_id="r", task_id="t"),
                    try_number=1,
                    lease_id="forged",
                ),
                value_json="1",
            )
        )
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.api.TriggerDagRun(api_rr.TriggerDagRunRequest(dag_id="no_such_dag"))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.api.TriggerDagRun(api_rr.TriggerDagRunRequest(dag_id="x", conf_json="[1]"))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "conf_json" in (raised.value.details() or "")
