"""DAG files on disk and what the state service learnt from them: shared by processor and
executor tests.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from protos.api.v1 import request_response_pb2 as api_rr
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.runtime.v1 import request_response_pb2 as runtime_rr
from protos.runtime.v1 import service_pb2 as runtime_service
from protos.runtime.v1 import service_pb2_grpc as runtime_grpc
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import StateClient
from tradewind_common.channels import ChannelConfig, create_channel

T = TypeVar("T")

#: The largest page the API serves; every listing in these tests fits in one.
PAGE = 1000


def write_dag_file(folder: Path, relative: str, source: str) -> Path:
    """Write a DAG file atomically (a scan never sees half of it); return its path.

    The source is dedented, so tests can indent it like the code around it.
    """
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(textwrap.dedent(source))
    os.replace(staging, path)
    return path


def start_dag_processor(state_address: str, folder: Path, *flags: str) -> ServiceProcess:
    """A DAG processor on ``folder`` that scans every 0.2 s unless ``flags`` say otherwise."""
    return start_service(
        "dag_processor",
        state_address,
        "--dags-folder",
        str(folder),
        "--scan-interval",
        "0.2",
        *flags,
    )


def backend(state: ServiceProcess) -> str:
    """The database backend a state service runs on ("sqlite" or "postgresql")."""
    url = state.args[list(state.args).index("--database-url") + 1]
    return url.split(":", 1)[0].split("+", 1)[0]


async def instance_id(service: ServiceProcess) -> str:
    """The instance id a service owns its leases under (from its ServerInfoService)."""
    descriptor = runtime_service.DESCRIPTOR.services_by_name["ServerInfoService"]
    async with create_channel(ChannelConfig(targets=(service.address,)), [descriptor]) as channel:
        stub = runtime_grpc.ServerInfoServiceStub(channel)
        response = await stub.GetServerInfo(runtime_rr.GetServerInfoRequest(), timeout=5)
    return str(response.info.instance_id)


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = 15.0, what: str = ""
) -> T:
    """Await ``check`` until it returns something truthy; return it (fail after ``within`` s)."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s: {what or check} (last: {last!r})")
        await asyncio.sleep(0.05)


async def dags(client: StateClient, *, include_inactive: bool = False) -> dict[str, dag_pb2.Dag]:
    """Every DAG the state service holds, by id."""
    response = await client.api.ListDags(
        api_rr.ListDagsRequest(page_size=PAGE, include_inactive=include_inactive)
    )
    assert not response.next_page_token
    return {dag.dag_id: dag for dag in response.dags}


async def dag_files(client: StateClient) -> dict[str, dag_pb2.DagFile]:
    """Every DAG file record, by relative path."""
    response = await client.api.ListDagFiles(api_rr.ListDagFilesRequest(page_size=PAGE))
    assert not response.next_page_token
    return {f.relative_fileloc: f for f in response.dag_files}


async def import_errors(client: StateClient) -> dict[str, dag_pb2.ImportError]:
    """Every import error, by the relative path of its file."""
    response = await client.api.ListImportErrors(api_rr.ListImportErrorsRequest(page_size=PAGE))
    assert not response.next_page_token
    return {e.relative_filename: e for e in response.import_errors}


async def wait_for_dags(
    client: StateClient, dag_ids: Iterable[str], *, within: float = 15.0
) -> dict[str, dag_pb2.Dag]:
    """Wait until every DAG of ``dag_ids`` is registered and active; return them."""
    wanted = set(dag_ids)

    async def registered() -> dict[str, dag_pb2.Dag] | None:
        active = await dags(client)
        return {d: active[d] for d in wanted} if wanted <= set(active) else None

    try:
        return await eventually(registered, within=within, what=f"DAGs {sorted(wanted)} registered")
    except AssertionError as error:
        errors = "\n".join(
            f"{e.relative_filename}: {e.message}" for e in (await import_errors(client)).values()
        )
        raise AssertionError(f"{error}\nimport errors:\n{errors or '(none)'}") from None


async def wait_for_import_error(
    client: StateClient, relative: str, *, within: float = 15.0
) -> dag_pb2.ImportError:
    """Wait until ``relative`` has an import error; return it."""

    async def recorded() -> dag_pb2.ImportError | None:
        return (await import_errors(client)).get(relative)

    return await eventually(recorded, within=within, what=f"an import error for {relative}")
