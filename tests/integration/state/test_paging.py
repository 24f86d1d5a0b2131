"""List RPCs page through 10,000 task instances exactly once each, on both backends."""

from __future__ import annotations

import base64
import json

import grpc
import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from tests.helpers.dags import make_dag, register_dags
from tests.helpers.flows import trigger, unique
from tests.helpers.state import StateClient

RUNS = 100
TASKS = 100


@pytest.mark.timeout(180)
async def test_task_instances_page_through_ten_thousand_rows(client: StateClient) -> None:
    dag_id = unique("paging")
    await register_dags(client, [make_dag(dag_id, {f"t{i:03d}": [] for i in range(TASKS)})])
    for number in range(RUNS):
        await trigger(client, dag_id, run_id=f"run_{number:03d}")

    seen: list[tuple[str, str]] = []
    token = ""
    pages = 0
    while True:
        page = await client.api.ListTaskInstances(
            api_rr.ListTaskInstancesRequest(dag_id=dag_id, page_size=1000, page_token=token)
        )
        assert page.total_size == RUNS * TASKS
        seen += [(ti.key.run_id, ti.key.task_id) for ti in page.task_instances]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 10
    assert len(seen) == RUNS * TASKS
    assert len(set(seen)) == RUNS * TASKS

    runs: list[str] = []
    token = ""
    while True:
        runs_page = await client.api.ListDagRuns(
            api_rr.ListDagRunsRequest(dag_id=dag_id, page_size=30, page_token=token)
        )
        runs += [r.run_id for r in runs_page.dag_runs]
        token = runs_page.next_page_token
        if not token:
            break
    assert sorted(runs) == [f"run_{n:03d}" for n in range(RUNS)]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.api.ListDagRuns(
            api_rr.ListDagRunsRequest(dag_id=unique("other"), page_size=30, page_token="garbage")
        )
    assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.api.ListTaskInstances(
            api_rr.ListTaskInstancesRequest(dag_id=dag_id, page_token="not-a-token")
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in (refused.value.details() or "")

    # A forged token: a well-formed key that skips ahead, without the server's signature, then
    # signed with a guessed signature, then a real token whose key was altered.
    first = await client.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=dag_id, page_size=30))
    token, _, signature = first.next_page_token.rpartition(".")
    raw = json.loads(base64.urlsafe_b64decode(token))
    raw["k"] = ["run_090"]
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
    for bad in (forged, f"{forged}.{signature}", f"{token}.{'A' * len(signature)}"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.api.ListDagRuns(
                api_rr.ListDagRunsRequest(dag_id=dag_id, page_size=30, page_token=bad)
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "not a token this server made" in (refused.value.details() or "")
