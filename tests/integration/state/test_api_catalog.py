"""ApiService, the catalog half: DAGs, DAG files, import errors, variables, connections and
pools, through a real state service on both backends; plus store-level checks of what is
stored (encrypted secrets, cascades, pool usage) on a fresh database of each backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import pytest
from cryptography.fernet import Fernet
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from protos.api.v1 import request_response_pb2 as rr
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from protos.dag_processor.v1 import request_response_pb2 as processor_rr
from protos.enums.v1 import event_pb2 as event_enums
from protos.event.v1 import request_response_pb2 as event_rr
from protos.resource.v1 import message_pb2 as resource_pb2
from services.state.convert import connection_to_proto, connection_values, pool_to_proto
from services.state.crypto import SecretBox
from services.state.db import models
from services.state.db.engine import Database, DatabaseSettings
from services.state.store import catalog, pages, resources
from services.state.store.errors import Refused
from services.state.store.pools import PoolUsage
from tests.helpers.dags import make_dag, register_dags, seconds
from tests.helpers.databases import TemplateDatabases, require_postgres
from tests.helpers.processes import ServiceProcess, assert_eventually
from tests.helpers.state import API_TOKEN, SERVICE_TOKEN, StateClient, state_client

T = TypeVar("T")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
EVENT_WAIT_SECONDS = 10


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def rpc_error(call: Awaitable[Any], code: grpc.StatusCode) -> str:
    """Await a call that must fail with ``code``; return its message."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() is code, raised.value.details()
    return raised.value.details() or ""


async def all_pages(
    fetch: Callable[[str], Awaitable[T]],
    items: Callable[[T], Sequence[Any]],
) -> tuple[list[Any], list[T]]:
    """Follow next_page_token from the first page to the last; return the items and pages."""
    collected: list[Any] = []
    pages: list[T] = []
    token = ""
    while True:
        page = await fetch(token)
        pages.append(page)
        collected.extend(items(page))
        token = page.next_page_token  # type: ignore[attr-defined]
        if not token:
            return collected, pages


async def watched_events(
    client: StateClient,
    after: int,
    types: Sequence[event_enums.EventType.ValueType],
    done: Callable[[list[Any]], bool],
    *,
    dag_ids: Sequence[str] = (),
) -> list[Any]:
    """The events after cursor ``after`` of ``types``, read until ``done(events)``."""
    events: list[Any] = []
    stream = client.events.WatchEvents(
        event_rr.WatchEventsRequest(after_cursor=after, types=types, dag_ids=dag_ids)
    )
    try:
        async with asyncio.timeout(EVENT_WAIT_SECONDS):
            async for response in stream:
                events.extend(response.events)
                if done(events):
                    return events
    finally:
        stream.cancel()
    raise AssertionError(f"the event stream ended early after {events}")


async def latest_cursor(client: StateClient) -> int:
    return (await client.events.GetLatestCursor(event_rr.GetLatestCursorRequest())).cursor


# ---- DAGs ----


async def list_dag_ids(client: StateClient, **filters: Any) -> list[str]:
    response = await client.api.ListDags(rr.ListDagsRequest(**filters))
    assert response.total_size == len(response.dags)
    return [dag.dag_id for dag in response.dags]


async def test_list_dags_filters_by_id_tags_paused_and_activity(client: StateClient) -> None:
    prefix = unique("lst")
    file = f"{prefix}.py"
    alpha, beta, gamma, delta = (f"{prefix}_{n}" for n in ("alpha", "beta", "gamma", "delta"))
    quoted = f"{prefix}_quoted"
    await register_dags(
        client,
        [
            make_dag(alpha, {"t": []}, file=file, tags=["etl", "daily"]),
            make_dag(beta, {"t": []}, file=file, tags=["etl"], paused=True),
            make_dag(gamma, {"t": []}, file=file, tags=["ETL", "daily"]),
            make_dag(delta, {"t": []}, file=file, tags=["e%l", 'x"etl']),
            make_dag(quoted, {"t": []}, file=file, tags=[]),
        ],
    )

    everything = sorted([alpha, beta, gamma, delta, quoted])
    assert await list_dag_ids(client, dag_id_contains=prefix.upper()) == everything
    # Tags match whole and exactly: not by case, not by substring, not inside another tag.
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=["etl"]) == [alpha, beta]
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=["daily", "etl"]) == [alpha]
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=["daily"]) == [alpha, gamma]
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=["ETL"]) == [gamma]
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=["tl"]) == []
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=["e%l"]) == [delta]
    assert await list_dag_ids(client, dag_id_contains=prefix, tags=['x"etl']) == [delta]
    # "%" and "_" in a substring filter are literal characters, not wildcards.
    assert await list_dag_ids(client, dag_id_contains=f"{prefix}%") == []
    assert await list_dag_ids(client, dag_id_contains=prefix[:-1] + "_") == []

    assert await list_dag_ids(client, dag_id_contains=prefix, paused=True) == [beta]
    assert await list_dag_ids(client, dag_id_contains=prefix, paused=False) == sorted(
        [alpha, gamma, delta, quoted]
    )

    # The file stops defining all but alpha: the others become inactive.
    await register_dags(client, [make_dag(alpha, {"t": []}, file=file, tags=["etl", "daily"])])
    assert await list_dag_ids(client, dag_id_contains=prefix) == [alpha]
    listed = await client.api.ListDags(
        rr.ListDagsRequest(dag_id_contains=prefix, include_inactive=True)
    )
    assert [dag.dag_id for dag in listed.dags] == everything
    assert {dag.dag_id for dag in listed.dags if not dag.is_active} == set(everything) - {alpha}


async def test_list_dags_pages_by_id(client: StateClient) -> None:
    prefix = unique("pg")
    dag_ids = [f"{prefix}_{index:02d}" for index in range(7)]
    await register_dags(
        client, [make_dag(dag_id, {"t": []}, file=f"{prefix}.py") for dag_id in dag_ids]
    )
    listed, pages = await all_pages(
        lambda token: client.api.ListDags(
            rr.ListDagsRequest(dag_id_contains=prefix, page_size=3, page_token=token)
        ),
        lambda page: page.dags,
    )
    assert [dag.dag_id for dag in listed] == dag_ids
    assert [len(page.dags) for page in pages] == [3, 3, 1]
    assert {page.total_size for page in pages} == {7}
    # A token made with other filters is refused, naming the field.
    message = await rpc_error(
        client.api.ListDags(
            rr.ListDagsRequest(
                dag_id_contains=prefix, paused=True, page_token=pages[0].next_page_token
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in message


async def test_get_dag_has_the_schedule_and_the_definition_when_asked(
    client: StateClient,
) -> None:
    dag_id = unique("get")
    (outcome,) = await register_dags(
        client, [make_dag(dag_id, {"extract": [], "load": ["extract"]}, cron="0 0 * * *")]
    )
    assert outcome.accepted

    plain = (await client.api.GetDag(rr.GetDagRequest(dag_id=dag_id))).dag
    assert plain.dag_id == dag_id
    assert plain.is_active
    assert not plain.is_paused
    assert plain.schedule.cron == "0 0 * * *"
    assert plain.task_count == 2
    assert not plain.HasField("definition")

    full = (await client.api.GetDag(rr.GetDagRequest(dag_id=dag_id, include_definition=True))).dag
    assert full.schedule.cron == "0 0 * * *"
    assert full.definition.dag_id == dag_id
    assert [task.task_id for task in full.definition.tasks] == ["extract", "load"]
    assert list(full.definition.tasks[1].upstream_task_ids) == ["extract"]

    listed = await client.api.ListDags(rr.ListDagsRequest(dag_id_contains=dag_id))
    assert listed.dags[0].schedule.cron == "0 0 * * *"
    assert not listed.dags[0].HasField("definition")


async def test_unknown_and_malformed_dag_ids(client: StateClient) -> None:
    missing = unique("missing")
    for call in (
        client.api.GetDag(rr.GetDagRequest(dag_id=missing)),
        client.api.PauseDag(rr.PauseDagRequest(dag_id=missing)),
        client.api.UnpauseDag(rr.UnpauseDagRequest(dag_id=missing)),
        client.api.DeleteDag(rr.DeleteDagRequest(dag_id=missing)),
    ):
        assert missing in await rpc_error(call, grpc.StatusCode.NOT_FOUND)
    for call in (
        client.api.GetDag(rr.GetDagRequest()),
        client.api.PauseDag(rr.PauseDagRequest()),
        client.api.DeleteDag(rr.DeleteDagRequest(allow_missing=True)),
    ):
        assert "dag_id" in await rpc_error(call, grpc.StatusCode.INVALID_ARGUMENT)


async def test_pause_and_unpause_are_idempotent_and_visible(client: StateClient) -> None:
    dag_id = unique("pause")
    await register_dags(client, [make_dag(dag_id, {"t": []})])
    cursor = await latest_cursor(client)

    first = await client.api.PauseDag(rr.PauseDagRequest(dag_id=dag_id))
    again = await client.api.PauseDag(rr.PauseDagRequest(dag_id=dag_id))
    assert first.dag.is_paused
    assert again.dag.is_paused
    assert (await client.api.GetDag(rr.GetDagRequest(dag_id=dag_id))).dag.is_paused
    assert await list_dag_ids(client, dag_id_contains=dag_id, paused=True) == [dag_id]
    assert await list_dag_ids(client, dag_id_contains=dag_id, paused=False) == []

    await client.api.UnpauseDag(rr.UnpauseDagRequest(dag_id=dag_id))
    unpaused = await client.api.UnpauseDag(rr.UnpauseDagRequest(dag_id=dag_id))
    assert not unpaused.dag.is_paused
    assert not (await client.api.GetDag(rr.GetDagRequest(dag_id=dag_id))).dag.is_paused
    assert await list_dag_ids(client, dag_id_contains=dag_id, paused=False) == [dag_id]

    # One event per change, none for the repeated calls; the delete closes the sequence.
    await client.api.DeleteDag(rr.DeleteDagRequest(dag_id=dag_id))
    events = await watched_events(
        client,
        cursor,
        [event_enums.EVENT_TYPE_DAG_PAUSED_CHANGED, event_enums.EVENT_TYPE_DAG_DEACTIVATED],
        lambda seen: seen[-1].type == event_enums.EVENT_TYPE_DAG_DEACTIVATED,
        dag_ids=[dag_id],
    )
    assert [event.type for event in events] == [
        event_enums.EVENT_TYPE_DAG_PAUSED_CHANGED,
        event_enums.EVENT_TYPE_DAG_PAUSED_CHANGED,
        event_enums.EVENT_TYPE_DAG_DEACTIVATED,
    ]


async def test_delete_dag_removes_it_until_its_file_defines_it_again(
    client: StateClient,
) -> None:
    dag_id = unique("del")
    dag = make_dag(dag_id, {"t": []})
    await register_dags(client, [dag])

    deleted = await client.api.DeleteDag(rr.DeleteDagRequest(dag_id=dag_id))
    assert deleted.deleted_dag_runs == 0
    await rpc_error(client.api.GetDag(rr.GetDagRequest(dag_id=dag_id)), grpc.StatusCode.NOT_FOUND)
    assert await list_dag_ids(client, dag_id_contains=dag_id, include_inactive=True) == []
    await rpc_error(
        client.api.DeleteDag(rr.DeleteDagRequest(dag_id=dag_id)), grpc.StatusCode.NOT_FOUND
    )
    retried = await client.api.DeleteDag(rr.DeleteDagRequest(dag_id=dag_id, allow_missing=True))
    assert retried.deleted_dag_runs == 0

    (outcome,) = await register_dags(client, [dag])
    assert list(outcome.updated_dag_ids) == [dag_id]
    assert (await client.api.GetDag(rr.GetDagRequest(dag_id=dag_id))).dag.is_active


# ---- DAG files and import errors ----


async def report_import_error(client: StateClient, path: str, message: str) -> None:
    processor_id = unique("proc")
    await client.processor.AcquireDagFileLeases(
        processor_rr.AcquireDagFileLeasesRequest(
            processor_id=processor_id, relative_filelocs=[path], lease_duration=seconds(60)
        )
    )
    response = await client.processor.ReportParseResults(
        processor_rr.ReportParseResultsRequest(
            processor_id=processor_id,
            results=[
                processor_pb2.FileParseResult(
                    relative_fileloc=path,
                    fileloc=f"/dags/{path}",
                    import_error=dag_pb2.ImportError(
                        filename=f"/dags/{path}",
                        relative_filename=path,
                        message=message,
                        line_number=3,
                        stacktrace="Traceback ...",
                    ),
                )
            ],
        )
    )
    assert response.outcomes[0].accepted


async def test_dag_files_list_every_file_once_with_its_import_error(
    client: StateClient,
) -> None:
    good, bad = unique("good") + ".py", unique("bad") + ".py"
    dag_id = unique("filed")
    await register_dags(client, [make_dag(dag_id, {"t": []}, file=good)])
    await report_import_error(client, bad, "SyntaxError: invalid syntax (line 3)")

    files, pages = await all_pages(
        lambda token: client.api.ListDagFiles(
            rr.ListDagFilesRequest(page_size=2, page_token=token)
        ),
        lambda page: page.dag_files,
    )
    by_path = {dag_file.relative_fileloc: dag_file for dag_file in files}
    assert len(by_path) == len(files) == pages[0].total_size
    assert list(by_path[good].dag_ids) == [dag_id]
    assert by_path[good].fileloc == f"/dags/{good}"
    assert by_path[good].last_parsed_by == "test-processor"
    assert by_path[good].HasField("last_parsed_at")
    assert not by_path[good].has_import_error
    assert by_path[bad].has_import_error


async def test_import_errors_filter_by_filename(client: StateClient) -> None:
    marker = unique("broken")
    paths = [f"{marker}/one.py", f"{marker}/two.py", unique("other") + ".py"]
    for path in paths:
        await report_import_error(client, path, f"NameError in {path}")

    response = await client.api.ListImportErrors(
        rr.ListImportErrorsRequest(filename_contains=marker.upper())
    )
    assert response.total_size == 2
    assert [error.relative_filename for error in response.import_errors] == paths[:2]
    first = response.import_errors[0]
    assert first.filename == f"/dags/{paths[0]}"
    assert first.message == f"NameError in {paths[0]}"
    assert first.line_number == 3
    assert first.stacktrace == "Traceback ..."
    assert first.HasField("timestamp")

    page = await client.api.ListImportErrors(
        rr.ListImportErrorsRequest(filename_contains=marker, page_size=1)
    )
    assert len(page.import_errors) == 1
    assert page.next_page_token
    message = await rpc_error(
        client.api.ListImportErrors(
            rr.ListImportErrorsRequest(filename_contains="", page_token=page.next_page_token)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in message


# ---- Variables ----


async def test_variables_can_be_set_read_replaced_and_deleted(client: StateClient) -> None:
    key = unique("Var")
    variable = resource_pb2.Variable(key=key, value="one", description="first")
    stored = await client.api.SetVariable(rr.SetVariableRequest(variable=variable))
    assert stored.variable == variable
    read = await client.api.GetVariable(rr.GetVariableRequest(key=key))
    assert read.variable == variable

    replaced = resource_pb2.Variable(key=key, value='{"x": 2}', description="")
    await client.api.SetVariable(rr.SetVariableRequest(variable=replaced))
    assert (await client.api.GetVariable(rr.GetVariableRequest(key=key))).variable == replaced
    listed = await client.api.ListVariables(rr.ListVariablesRequest(key_contains=key.lower()))
    assert list(listed.variables) == [replaced]
    assert listed.total_size == 1
    assert not listed.next_page_token

    await client.api.DeleteVariable(rr.DeleteVariableRequest(key=key))
    assert key in await rpc_error(
        client.api.GetVariable(rr.GetVariableRequest(key=key)), grpc.StatusCode.NOT_FOUND
    )
    await rpc_error(
        client.api.DeleteVariable(rr.DeleteVariableRequest(key=key)), grpc.StatusCode.NOT_FOUND
    )
    await client.api.DeleteVariable(rr.DeleteVariableRequest(key=key, allow_missing=True))


async def test_malformed_variable_requests_name_the_field(client: StateClient) -> None:
    message = await rpc_error(
        client.api.SetVariable(
            rr.SetVariableRequest(variable=resource_pb2.Variable(key="", value="v"))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "variable.key" in message
    message = await rpc_error(
        client.api.SetVariable(
            rr.SetVariableRequest(variable=resource_pb2.Variable(key="k" * 251, value="v"))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "variable.key" in message
    message = await rpc_error(
        client.api.GetVariable(rr.GetVariableRequest()), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "key" in message
    message = await rpc_error(
        client.api.ListVariables(rr.ListVariablesRequest(page_size=-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_size" in message


async def test_variables_page_through_every_key_exactly_once(client: StateClient) -> None:
    prefix = unique("many")
    keys = [f"{prefix}_{index:03d}" for index in range(250)]
    await asyncio.gather(
        *(
            client.api.SetVariable(
                rr.SetVariableRequest(variable=resource_pb2.Variable(key=key, value=key))
            )
            for key in keys
        )
    )

    def fetch(token: str) -> Awaitable[rr.ListVariablesResponse]:
        return client.api.ListVariables(
            rr.ListVariablesRequest(key_contains=prefix, page_size=100, page_token=token)
        )

    listed, pages = await all_pages(fetch, lambda page: page.variables)
    assert [variable.key for variable in listed] == keys
    assert [len(page.variables) for page in pages] == [100, 100, 50]
    assert [page.total_size for page in pages] == [250, 250, 250]

    # Keyset paging: a key added before the cursor meanwhile neither shifts nor repeats rows.
    await client.api.SetVariable(
        rr.SetVariableRequest(variable=resource_pb2.Variable(key=f"{prefix}_000a", value=""))
    )
    second = await fetch(pages[0].next_page_token)
    assert [variable.key for variable in second.variables] == keys[100:200]
    assert second.total_size == 251

    # Page size 0 means the default of 100.
    default = await client.api.ListVariables(rr.ListVariablesRequest(key_contains=prefix))
    assert len(default.variables) == 100

    # A token is bound to its listing and its filters.
    token = pages[0].next_page_token
    for call in (
        client.api.ListVariables(
            rr.ListVariablesRequest(key_contains=prefix + "_1", page_token=token)
        ),
        client.api.ListVariables(rr.ListVariablesRequest(page_token=token)),
        client.api.ListPools(rr.ListPoolsRequest(name_contains=prefix, page_token=token)),
        client.api.ListVariables(
            rr.ListVariablesRequest(key_contains=prefix, page_token="not-a-token")
        ),
    ):
        assert "page_token" in await rpc_error(call, grpc.StatusCode.INVALID_ARGUMENT)


async def test_substring_filters_ignore_case_and_take_wildcards_literally(
    client: StateClient,
) -> None:
    prefix = unique("wild")
    for key in (f"{prefix}_A%B", f"{prefix}_axb", f"{prefix}_a_b"):
        await client.api.SetVariable(
            rr.SetVariableRequest(variable=resource_pb2.Variable(key=key, value=""))
        )

    async def keys(contains: str) -> list[str]:
        response = await client.api.ListVariables(rr.ListVariablesRequest(key_contains=contains))
        return [variable.key for variable in response.variables]

    assert await keys(f"{prefix}_a%b") == [f"{prefix}_A%B"]
    assert await keys(f"{prefix}_a_b") == [f"{prefix}_a_b"]
    assert len(await keys(prefix.upper())) == 3


# ---- Connections ----


def postgres_connection(conn_id: str, **overrides: Any) -> resource_pb2.Connection:
    fields: dict[str, Any] = {
        "conn_id": conn_id,
        "conn_type": "postgres",
        "host": "db.internal",
        "schema": "analytics",
        "login": "etl",
        "password": "s3cret!",
        "port": 5432,
        "extra_json": '{"sslmode": "require"}',
        "description": "warehouse",
    }
    fields.update(overrides)
    return resource_pb2.Connection(**fields)


async def test_connection_secrets_are_redacted_unless_revealed(client: StateClient) -> None:
    conn_id = unique("conn")
    connection = postgres_connection(conn_id)
    stored = (
        await client.api.SetConnection(rr.SetConnectionRequest(connection=connection))
    ).connection
    redacted = postgres_connection(conn_id, password="***", extra_json="***")
    assert stored == redacted

    listed = await client.api.ListConnections(rr.ListConnectionsRequest(conn_id_contains=conn_id))
    assert list(listed.connections) == [redacted]
    assert listed.total_size == 1
    got = await client.api.GetConnection(rr.GetConnectionRequest(conn_id=conn_id))
    assert got.connection == redacted
    revealed = await client.api.GetConnection(
        rr.GetConnectionRequest(conn_id=conn_id, reveal_secrets=True)
    )
    assert revealed.connection == connection


async def test_update_mask_replaces_only_the_named_fields(client: StateClient) -> None:
    conn_id = unique("mask")
    await client.api.SetConnection(rr.SetConnectionRequest(connection=postgres_connection(conn_id)))

    # Writing back a redacted connection with a mask that leaves the secrets out keeps them.
    redacted = (await client.api.GetConnection(rr.GetConnectionRequest(conn_id=conn_id))).connection
    redacted.host = "replica.internal"
    redacted.ClearField("port")
    await client.api.SetConnection(
        rr.SetConnectionRequest(connection=redacted, update_mask=FieldMask(paths=["host", "port"]))
    )
    revealed = await client.api.GetConnection(
        rr.GetConnectionRequest(conn_id=conn_id, reveal_secrets=True)
    )
    assert revealed.connection == postgres_connection(conn_id, host="replica.internal", port=None)
    assert not revealed.connection.HasField("port")

    # A mask that names the password replaces it; an empty password is shown empty.
    await client.api.SetConnection(
        rr.SetConnectionRequest(
            connection=resource_pb2.Connection(conn_id=conn_id, password=""),
            update_mask=FieldMask(paths=["password"]),
        )
    )
    got = await client.api.GetConnection(rr.GetConnectionRequest(conn_id=conn_id))
    assert got.connection.password == ""
    assert got.connection.extra_json == "***"
    assert got.connection.conn_type == "postgres"

    # Without a mask every field is replaced.
    await client.api.SetConnection(
        rr.SetConnectionRequest(
            connection=resource_pb2.Connection(conn_id=conn_id, conn_type="http")
        )
    )
    revealed = await client.api.GetConnection(
        rr.GetConnectionRequest(conn_id=conn_id, reveal_secrets=True)
    )
    assert revealed.connection == resource_pb2.Connection(conn_id=conn_id, conn_type="http")


HTTP = {"conn_id": "c", "conn_type": "http"}


@pytest.mark.parametrize(
    ("fields", "mask", "field"),
    [
        pytest.param({"conn_type": "http"}, [], "connection.conn_id", id="no-id"),
        pytest.param({"conn_id": "c"}, [], "connection.conn_type", id="no-type"),
        pytest.param({**HTTP, "extra_json": "[1]"}, [], "extra_json", id="extra-not-object"),
        pytest.param({**HTTP, "extra_json": "{x"}, [], "extra_json", id="extra-not-json"),
        pytest.param({**HTTP, "port": 70000}, [], "connection.port", id="port-too-high"),
        pytest.param(HTTP, ["hostname"], "update_mask", id="mask-unknown-field"),
        pytest.param(HTTP, ["conn_id"], "update_mask", id="mask-names-the-id"),
        pytest.param({**HTTP, "password": "***"}, [], "password", id="redacted-password"),
        # Creating takes every field, whatever the mask says.
        pytest.param({"conn_id": "c", "host": "h"}, ["host"], "connection.conn_type", id="create"),
    ],
)
async def test_malformed_connections_name_the_field(
    client: StateClient, fields: dict[str, Any], mask: list[str], field: str
) -> None:
    connection = resource_pb2.Connection(**fields)
    if connection.conn_id:
        connection.conn_id = unique(connection.conn_id)
    request = rr.SetConnectionRequest(connection=connection, update_mask=FieldMask(paths=mask))
    message = await rpc_error(client.api.SetConnection(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert field in message
    if connection.conn_id:
        await rpc_error(
            client.api.GetConnection(rr.GetConnectionRequest(conn_id=connection.conn_id)),
            grpc.StatusCode.NOT_FOUND,
        )


async def test_connections_can_be_deleted(client: StateClient) -> None:
    conn_id = unique("gone")
    await client.api.SetConnection(rr.SetConnectionRequest(connection=postgres_connection(conn_id)))
    await client.api.DeleteConnection(rr.DeleteConnectionRequest(conn_id=conn_id))
    assert conn_id in await rpc_error(
        client.api.GetConnection(rr.GetConnectionRequest(conn_id=conn_id)),
        grpc.StatusCode.NOT_FOUND,
    )
    await rpc_error(
        client.api.DeleteConnection(rr.DeleteConnectionRequest(conn_id=conn_id)),
        grpc.StatusCode.NOT_FOUND,
    )
    await client.api.DeleteConnection(
        rr.DeleteConnectionRequest(conn_id=conn_id, allow_missing=True)
    )
    assert "conn_id" in await rpc_error(
        client.api.GetConnection(rr.GetConnectionRequest()), grpc.StatusCode.INVALID_ARGUMENT
    )


@pytest.fixture
async def api_client(secured_state: ServiceProcess) -> AsyncIterator[StateClient]:
    async with state_client(secured_state.address, token=API_TOKEN) as stubs:
        yield stubs


@pytest.fixture
async def service_client(secured_state: ServiceProcess) -> AsyncIterator[StateClient]:
    async with state_client(secured_state.address, token=SERVICE_TOKEN) as stubs:
        yield stubs


async def test_with_authentication_only_a_service_token_reveals_secrets(
    api_client: StateClient, service_client: StateClient
) -> None:
    conn_id = unique("auth")
    connection = postgres_connection(conn_id)
    await api_client.api.SetConnection(rr.SetConnectionRequest(connection=connection))

    redacted = await api_client.api.GetConnection(rr.GetConnectionRequest(conn_id=conn_id))
    assert redacted.connection.password == "***"
    message = await rpc_error(
        api_client.api.GetConnection(rr.GetConnectionRequest(conn_id=conn_id, reveal_secrets=True)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert "service token" in message
    revealed = await service_client.api.GetConnection(
        rr.GetConnectionRequest(conn_id=conn_id, reveal_secrets=True)
    )
    assert revealed.connection == connection


# ---- Pools ----


async def test_pools_can_be_created_resized_listed_and_deleted(client: StateClient) -> None:
    default = (await client.api.GetPool(rr.GetPoolRequest(name="default_pool"))).pool
    assert default.slots == 128
    assert default.open_slots == 128

    name = unique("pool")
    created = await client.api.SetPool(
        rr.SetPoolRequest(pool=resource_pb2.Pool(name=name, slots=5, description="small"))
    )
    assert created.pool == resource_pb2.Pool(name=name, slots=5, description="small", open_slots=5)
    # Read-only counts in the request are ignored.
    resized = await client.api.SetPool(
        rr.SetPoolRequest(
            pool=resource_pb2.Pool(name=name, slots=8, description="small", running_slots=99)
        )
    )
    assert resized.pool == resource_pb2.Pool(name=name, slots=8, description="small", open_slots=8)
    assert (await client.api.GetPool(rr.GetPoolRequest(name=name))).pool == resized.pool

    unlimited = await client.api.SetPool(
        rr.SetPoolRequest(pool=resource_pb2.Pool(name=name, slots=-1))
    )
    assert unlimited.pool.open_slots == -1
    listed = await client.api.ListPools(rr.ListPoolsRequest(name_contains=name.upper()))
    assert list(listed.pools) == [unlimited.pool]
    assert listed.total_size == 1

    await client.api.DeletePool(rr.DeletePoolRequest(name=name))
    assert name in await rpc_error(
        client.api.GetPool(rr.GetPoolRequest(name=name)), grpc.StatusCode.NOT_FOUND
    )
    await rpc_error(
        client.api.DeletePool(rr.DeletePoolRequest(name=name)), grpc.StatusCode.NOT_FOUND
    )
    await client.api.DeletePool(rr.DeletePoolRequest(name=name, allow_missing=True))


async def test_malformed_pool_requests_and_the_default_pool(client: StateClient) -> None:
    message = await rpc_error(
        client.api.SetPool(rr.SetPoolRequest(pool=resource_pb2.Pool(name=unique("p"), slots=-2))),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "pool.slots" in message
    message = await rpc_error(
        client.api.SetPool(rr.SetPoolRequest(pool=resource_pb2.Pool(slots=1))),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "pool.name" in message
    for allow_missing in (False, True):
        message = await rpc_error(
            client.api.DeletePool(
                rr.DeletePoolRequest(name="default_pool", allow_missing=allow_missing)
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert "default_pool" in message
    assert (await client.api.GetPool(rr.GetPoolRequest(name="default_pool"))).pool.slots == 128


async def test_pool_events_are_recorded_only_for_changes(client: StateClient) -> None:
    name, sentinel = unique("ev"), unique("sentinel")
    cursor = await latest_cursor(client)
    pool = resource_pb2.Pool(name=name, slots=3)
    await client.api.SetPool(rr.SetPoolRequest(pool=pool))
    await client.api.SetPool(rr.SetPoolRequest(pool=pool))  # unchanged: no event
    await client.api.SetPool(rr.SetPoolRequest(pool=resource_pb2.Pool(name=name, slots=4)))
    await client.api.DeletePool(rr.DeletePoolRequest(name=name))
    await client.api.DeletePool(rr.DeletePoolRequest(name=name, allow_missing=True))
    await client.api.SetPool(rr.SetPoolRequest(pool=resource_pb2.Pool(name=sentinel, slots=1)))

    events = await watched_events(
        client,
        cursor,
        [event_enums.EVENT_TYPE_POOL_CHANGED],
        lambda seen: seen[-1].pool == sentinel,
    )
    assert [event.pool for event in events if event.pool in (name, sentinel)] == [
        name,
        name,
        name,
        sentinel,
    ]


# ---- What is stored: store functions on a fresh database of each backend ----


def test_connection_secrets_are_encrypted_at_rest(database: Database) -> None:
    box = SecretBox(Fernet.generate_key().decode())
    connection = postgres_connection("warehouse")
    values = connection_values(connection)
    stored = database.run_write(
        lambda s: connection_to_proto(
            resources.upsert_connection(s, values, resources.CONNECTION_FIELDS, box)
        )
    )
    assert stored.password == "***"

    row = database.run_write(lambda s: s.get(models.Connection, "warehouse"))
    assert row is not None
    for encrypted, clear in (
        (row.password_encrypted, connection.password),
        (row.extra_encrypted, connection.extra_json),
    ):
        assert encrypted
        assert clear not in encrypted
        assert box.decrypt(encrypted) == clear
    assert row.host == "db.internal"

    def reveal(session: Session, secrets: SecretBox) -> resource_pb2.Connection:
        row = resources.find_connection(session, "warehouse")
        assert row is not None
        return connection_to_proto(row, secrets)

    assert database.run_write(lambda s: reveal(s, box)) == connection
    # Another key cannot read the secrets: a FAILED_PRECONDITION that says why.
    other = SecretBox(Fernet.generate_key().decode())
    with pytest.raises(Refused, match="secret key"):
        database.run_write(lambda s: reveal(s, other))


def test_variables_are_encrypted_at_rest_and_old_plain_values_get_encrypted(
    database: Database,
) -> None:
    box = SecretBox(Fernet.generate_key().decode())
    database.run_write(lambda s: resources.upsert_variable(s, "api_key", "s3cr3t", "", box))
    row = database.run_write(lambda s: s.get(models.Variable, "api_key"))
    assert row is not None
    assert row.is_encrypted
    assert "s3cr3t" not in row.value
    assert box.decrypt(row.value) == "s3cr3t"
    # A value from before encryption reads as it is until the service encrypts it.
    database.run_write(
        lambda s: s.add(models.Variable(key="legacy", value="plain", is_encrypted=False))
    )
    legacy = database.run_write(lambda s: s.get(models.Variable, "legacy"))
    assert legacy is not None
    assert resources.variable_value(legacy, box) == "plain"
    assert database.run_write(lambda s: resources.encrypt_plain_variables(s, box)) == 1
    legacy = database.run_write(lambda s: s.get(models.Variable, "legacy"))
    assert legacy is not None
    assert legacy.is_encrypted
    assert legacy.value != "plain"
    assert resources.variable_value(legacy, box) == "plain"


def test_rotating_keys_reencrypts_every_secret_with_the_first_key(database: Database) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = SecretBox(old_key)
    values = connection_values(postgres_connection("warehouse"))
    database.run_write(
        lambda s: resources.upsert_connection(s, values, resources.CONNECTION_FIELDS, old)
    )
    database.run_write(lambda s: resources.upsert_variable(s, "api_key", "s3cr3t", "", old))
    rotating = SecretBox(f"{new_key},{old_key}")
    done = database.run_write(lambda s: resources.reencrypt_secrets(s, rotating))
    assert (done.connections, done.variables) == (1, 1)
    new = SecretBox(new_key)  # the old key can go now
    row = database.run_write(lambda s: resources.find_connection(s, "warehouse"))
    variable = database.run_write(lambda s: resources.find_variable(s, "api_key"))
    assert row is not None
    assert variable is not None
    assert new.decrypt(row.password_encrypted) == values.password
    assert resources.variable_value(variable, new) == "s3cr3t"
    with pytest.raises(Refused):
        old.decrypt(row.password_encrypted)
    # A secret under a key no longer listed stops the rotation and writes nothing.
    stranger = SecretBox(Fernet.generate_key().decode())
    database.run_write(lambda s: resources.upsert_variable(s, "other", "x", "", stranger))
    with pytest.raises(Refused, match="any of the configured keys"):
        database.run_write(lambda s: resources.reencrypt_secrets(s, SecretBox(old_key)))
    row = database.run_write(lambda s: resources.find_connection(s, "warehouse"))
    assert row is not None
    assert new.decrypt(row.password_encrypted) == values.password


def add_run(
    session: Session, dag_id: str, run_id: str, states: dict[str, tuple[str, int, str]]
) -> None:
    """A DAG (if missing), one run of it, and task instances: task id -> (state, slots, pool)."""
    content_hash = hashlib.sha256(dag_id.encode()).hexdigest()
    if session.get(models.Dag, dag_id) is None:
        session.add(models.Dag(dag_id=dag_id, content_hash=content_hash, updated_at=NOW))
        session.add(
            models.DagVersion(
                content_hash=content_hash,
                dag_id=dag_id,
                definition=dag_pb2.DagDefinition(dag_id=dag_id).SerializeToString(),
                created_at=NOW,
            )
        )
        session.flush()
    run = models.DagRun(
        dag_id=dag_id,
        run_id=run_id,
        run_type="manual",
        state="running",
        logical_date=NOW,
        dag_content_hash=content_hash,
        created_at=NOW,
    )
    session.add(run)
    session.flush()
    for task_id, (state, slots, pool) in states.items():
        session.add(
            models.TaskInstance(
                dag_run_id=run.id,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                state=state,
                pool=pool,
                pool_slots=slots,
                updated_at=NOW,
            )
        )


def set_pool(
    session: Session,
    name: str,
    slots: int,
    *,
    description: str = "",
    include_deferred: bool = False,
) -> PoolUsage:
    return resources.upsert_pool(
        session, name, slots=slots, description=description, include_deferred=include_deferred
    )


def count(database: Database, model: type[models.Base], *where: Any) -> int:
    return int(
        database.run_write(
            lambda s: s.scalar(select(func.count()).select_from(model).where(*where))
        )
        or 0
    )


def test_pool_usage_counts_the_slots_of_active_task_instances(database: Database) -> None:
    database.run_write(lambda s: set_pool(s, "etl", 10))
    database.run_write(
        lambda s: add_run(
            s,
            "usage",
            "run_1",
            {
                "running": ("running", 2, "etl"),
                "restarting": ("restarting", 1, "etl"),
                "queued": ("queued", 3, "etl"),
                "deferred": ("deferred", 4, "etl"),
                "scheduled": ("scheduled", 5, "etl"),
                "done": ("success", 6, "etl"),
                "elsewhere": ("running", 7, "default_pool"),
            },
        )
    )

    found = database.run_write(lambda s: resources.find_pool(s, "etl"))
    assert found is not None
    assert pool_to_proto(found) == resource_pb2.Pool(
        name="etl", slots=10, running_slots=3, queued_slots=3, open_slots=4
    )
    # With include_deferred, deferred task instances hold their slots too.
    pool = database.run_write(lambda s: set_pool(s, "etl", 10, include_deferred=True))
    assert (pool.running, pool.queued, pool.open_slots) == (3, 3, 0)
    # A pool shrunk below its usage has no open slots, never "-1" (which means unlimited).
    pool = database.run_write(lambda s: set_pool(s, "etl", 2))
    assert pool.open_slots == 0
    pool = database.run_write(lambda s: set_pool(s, "etl", -1))
    assert pool.open_slots == -1
    page = database.run_write(
        lambda s: resources.list_pools(s, "ET", pages.page_request("ListPools", 0, ""))
    )
    assert [(p.name, p.running, p.queued) for p in page.items] == [("etl", 3, 3)]

    with pytest.raises(Refused, match="in use by 3"):
        database.run_write(lambda s: resources.remove_pool(s, "etl"))
    database.run_write(
        lambda s: s.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.pool == "etl", models.TaskInstance.task_id != "deferred")
            .values(state="success")
        )
    )
    events_before = count(database, models.Event)
    assert database.run_write(lambda s: resources.remove_pool(s, "etl"))
    assert count(database, models.Pool, models.Pool.name == "etl") == 0
    assert count(database, models.Event) == events_before + 1


def test_setting_an_unchanged_pool_records_no_event(database: Database) -> None:
    database.run_write(lambda s: set_pool(s, "quiet", 2, description="d"))
    events = count(database, models.Event)
    database.run_write(lambda s: set_pool(s, "quiet", 2, description="d"))
    assert count(database, models.Event) == events
    with pytest.raises(Refused, match="default_pool"):
        database.run_write(lambda s: resources.remove_pool(s, "default_pool"))


def test_delete_dag_takes_its_runs_task_instances_and_versions(database: Database) -> None:
    database.run_write(lambda s: add_run(s, "doomed", "run_1", {"a": ("success", 1, "p")}))
    database.run_write(lambda s: add_run(s, "doomed", "run_2", {"a": ("running", 1, "p")}))
    database.run_write(lambda s: add_run(s, "kept", "run_1", {"a": ("success", 1, "p")}))

    assert database.run_write(lambda s: catalog.delete_dag(s, "doomed")) == 2
    assert count(database, models.Dag, models.Dag.dag_id == "doomed") == 0
    assert count(database, models.DagVersion, models.DagVersion.dag_id == "doomed") == 0
    assert count(database, models.DagRun, models.DagRun.dag_id == "doomed") == 0
    assert count(database, models.TaskInstance, models.TaskInstance.dag_id == "doomed") == 0
    assert count(database, models.TaskInstance, models.TaskInstance.dag_id == "kept") == 1
    assert database.run_write(lambda s: catalog.delete_dag(s, "doomed")) is None
    event = database.run_write(
        lambda s: s.scalars(select(models.Event).order_by(models.Event.id.desc())).first()
    )
    assert event is not None
    assert (event.type, event.dag_id) == (event_enums.EVENT_TYPE_DAG_DEACTIVATED, "doomed")


def test_two_replicas_creating_one_variable_at_once_both_succeed(
    template_databases: TemplateDatabases, postgres_status: str | None
) -> None:
    # Only PostgreSQL runs writers side by side (SQLite has one writer, so no insert race).
    require_postgres(postgres_status)
    database = Database(DatabaseSettings(url=template_databases.new_url("postgresql"), pool_size=4))
    inserted, release = threading.Event(), threading.Event()
    box = SecretBox(Fernet.generate_key().decode())

    def first(session: Session) -> None:
        resources.upsert_variable(session, "race", "first", "", box)
        session.flush()
        inserted.set()
        assert release.wait(EVENT_WAIT_SECONDS)

    def waiting_on_a_lock() -> bool:
        waiting = database.run_write(
            lambda s: s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        )
        return bool(waiting)

    try:
        with ThreadPoolExecutor(2) as threads:
            winner = threads.submit(database.run_write, first)
            assert inserted.wait(EVENT_WAIT_SECONDS)
            loser = threads.submit(
                database.run_write,
                lambda s: resources.upsert_variable(s, "race", "second", "", box),
            )
            # The second insert waits for the first transaction, then finds the key taken.
            assert_eventually(waiting_on_a_lock, message="the second insert waits on a lock")
            release.set()
            winner.result(EVENT_WAIT_SECONDS)
            assert resources.variable_value(loser.result(EVENT_WAIT_SECONDS), box) == "second"
        stored = database.run_write(lambda s: resources.find_variable(s, "race"))
        assert stored is not None
        assert stored.is_encrypted
        assert stored.value != "second"
        assert resources.variable_value(stored, box) == "second"
    finally:
        release.set()
        database.dispose()
