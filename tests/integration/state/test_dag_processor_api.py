"""DagProcessorService: file leases and parse results, on both backends."""

from __future__ import annotations

import math
import uuid

import grpc
import pytest

from protos.dag_processor.v1 import message_pb2 as processor_pb2
from protos.dag_processor.v1 import request_response_pb2 as rr
from tests.helpers.dags import make_dag, register_dags, seconds
from tests.helpers.state import StateClient


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_registering_stores_dags_and_reports_changes(client: StateClient) -> None:
    file = unique("etl") + ".py"
    first, second = unique("a"), unique("b")
    dags = [
        make_dag(first, {"x": [], "y": ["x"]}, file=file),
        make_dag(second, {"z": []}, file=file),
    ]
    (outcome,) = await register_dags(client, dags)
    assert outcome.accepted
    assert sorted(outcome.updated_dag_ids) == sorted([first, second])

    (again,) = await register_dags(client, dags)
    assert again.accepted
    assert list(again.updated_dag_ids) == []

    hashes = await client.processor.ListDagContentHashes(
        rr.ListDagContentHashesRequest(relative_filelocs=[file])
    )
    assert dict(hashes.files[0].content_hashes) == {
        d.definition.dag_id: d.content_hash for d in dags
    }


async def test_a_file_that_stops_defining_a_dag_deactivates_it(client: StateClient) -> None:
    file = unique("f") + ".py"
    keep, drop = unique("keep"), unique("drop")
    await register_dags(
        client, [make_dag(keep, {"t": []}, file=file), make_dag(drop, {"t": []}, file=file)]
    )
    (outcome,) = await register_dags(client, [make_dag(keep, {"t": []}, file=file)])
    assert list(outcome.deactivated_dag_ids) == [drop]


async def test_unchanged_dags_need_not_be_resent(client: StateClient) -> None:
    file = unique("u") + ".py"
    dag = make_dag(unique("dag"), {"t": []}, file=file)
    await register_dags(client, [dag])
    response = await client.processor.ReportParseResults(
        rr.ReportParseResultsRequest(
            processor_id="test-processor",
            results=[
                processor_pb2.FileParseResult(
                    relative_fileloc=file,
                    unchanged_dag_ids=[dag.definition.dag_id, "never_sent"],
                )
            ],
        )
    )
    (outcome,) = response.outcomes
    assert outcome.accepted
    assert list(outcome.resend_dag_ids) == ["never_sent"]
    assert list(outcome.deactivated_dag_ids) == []


async def test_the_same_dag_id_in_two_files_is_a_conflict(client: StateClient) -> None:
    dag_id = unique("dup")
    await register_dags(client, [make_dag(dag_id, {"t": []}, file=unique("one") + ".py")])
    (outcome,) = await register_dags(
        client, [make_dag(dag_id, {"t": []}, file=unique("two") + ".py")]
    )
    assert list(outcome.conflicting_dag_ids) == [dag_id]


async def test_results_without_the_file_lease_are_refused(client: StateClient) -> None:
    file = unique("leased") + ".py"
    await client.processor.AcquireDagFileLeases(
        rr.AcquireDagFileLeasesRequest(
            processor_id="owner", relative_filelocs=[file], lease_duration=seconds(60)
        )
    )
    response = await client.processor.ReportParseResults(
        rr.ReportParseResultsRequest(
            processor_id="intruder",
            results=[
                processor_pb2.FileParseResult(
                    relative_fileloc=file, dags=[make_dag(unique("d"), {"t": []}, file=file)]
                )
            ],
        )
    )
    assert not response.outcomes[0].accepted


async def test_leases_are_shared_fairly_between_processors(client: StateClient) -> None:
    files = [unique("share") + ".py" for _ in range(10)]
    first_id, second_id = unique("p1"), unique("p2")

    async def acquire(processor_id: str) -> rr.AcquireDagFileLeasesResponse:
        return await client.processor.AcquireDagFileLeases(
            rr.AcquireDagFileLeasesRequest(
                processor_id=processor_id, relative_filelocs=files, lease_duration=seconds(30)
            )
        )

    alone = await acquire(first_id)
    assert len(alone.leases) == math.ceil(10 / alone.live_processors)
    await acquire(second_id)
    first = await acquire(first_id)  # shrinks to its share now that a second one is live
    second = await acquire(second_id)  # takes what the first gave back
    share = math.ceil(10 / second.live_processors)
    owned_first = {lease.relative_fileloc for lease in first.leases}
    owned_second = {lease.relative_fileloc for lease in second.leases}
    assert owned_first
    assert owned_second
    assert not owned_first & owned_second
    assert len(owned_first) <= share
    assert len(owned_second) <= share


async def test_malformed_requests_name_the_field(client: StateClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.processor.AcquireDagFileLeases(
            rr.AcquireDagFileLeasesRequest(processor_id="p", relative_filelocs=["a.py"])
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "lease_duration" in (raised.value.details() or "")

    bad = make_dag(unique("bad"), {"t": ["missing"]}, file="bad.py")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await register_dags(client, [bad])
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "upstream_task_ids" in (raised.value.details() or "")
