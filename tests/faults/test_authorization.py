"""Who may call what, with authentication on, through real state services.

- From outside: no credential or a wrong token -> UNAUTHENTICATED everywhere; an API token
  reaches only the public API (PERMISSION_DENIED elsewhere); a service token reaches everything;
  health stays open.
- From inside a task process of a real run (services authenticated with a service token given
  through the environment): the task holds no token, its lease reaches TaskService only, and
  only for its own try; another task's XCom stays untouched.
- Under mutual TLS, certificate names listed as service or API identities grant those roles;
  a certificate listed nowhere grants nothing; a token, when sent, decides.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme
from google.protobuf import descriptor, message_factory
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.enums.v1 import dag_run_pb2
from protos.event.v1 import request_response_pb2 as event_rr
from protos.event.v1 import service_pb2_grpc as event_grpc
from protos.run.v1 import message_pb2 as run_pb2
from protos.task.v1 import request_response_pb2 as task_rr
from services.runtime.auth import lease_header
from tests.helpers.databases import TemplateDatabases
from tests.helpers.processes import ServiceProcess, health_status
from tests.helpers.services import start_service
from tests.helpers.state import (
    ALL_SERVICES,
    API_TOKEN,
    SERVICE_TOKEN,
    start_state,
    state_client,
)
from tests.integration.dag_processor.dag_files import start_dag_processor
from tests.integration.executor.runs import register, run_to_end, start_executor, xcom_values
from tradewind.client import Client
from tradewind_common.channels import ChannelConfig, create_channel
from tradewind_common.tls import ClientTLSConfig

DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
#: Any answer but these two means the call got past authentication.
REFUSALS = (DENIED, UNAUTHENTICATED)
PUBLIC = "tradewind.api.v1.ApiService"
TASK = "tradewind.task.v1.TaskService"
SERVING = 1


def first_unary_method(service: descriptor.ServiceDescriptor) -> descriptor.MethodDescriptor:
    """A unary RPC of ``service`` (an empty request is enough to test who gets in)."""
    return next(m for m in service.methods if not (m.client_streaming or m.server_streaming))


async def status_of(
    channel: aio.Channel,
    method: descriptor.MethodDescriptor,
    metadata: Sequence[tuple[str, str]] = (),
) -> grpc.StatusCode:
    """Call ``method`` with an empty request; return the status code."""
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    try:
        await call(request_class(), timeout=10, metadata=tuple(metadata))
    except aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def statuses(
    config: ChannelConfig, metadata: Sequence[tuple[str, str]] = ()
) -> dict[str, grpc.StatusCode]:
    """Service name -> the status of one of its RPCs, for every service of the state."""
    async with create_channel(config, ALL_SERVICES) as channel:
        return {
            service.full_name: await status_of(channel, first_unary_method(service), metadata)
            for service in ALL_SERVICES
        }


def got_in(found: dict[str, grpc.StatusCode]) -> set[str]:
    """The services whose RPC got past authentication."""
    return {name for name, code in found.items() if code not in REFUSALS}


ALL_NAMES = {service.full_name for service in ALL_SERVICES}


async def test_each_credential_reaches_only_what_its_role_may_call(
    secured_state: ServiceProcess,
) -> None:
    address = (secured_state.address,)
    nothing = await statuses(ChannelConfig(targets=address))
    assert set(nothing.values()) == {UNAUTHENTICATED}
    wrong = await statuses(ChannelConfig(targets=address, token="not-" + API_TOKEN))
    assert set(wrong.values()) == {UNAUTHENTICATED}

    client = await statuses(ChannelConfig(targets=address, token=API_TOKEN))
    assert got_in(client) == {PUBLIC}
    assert {client[name] for name in ALL_NAMES - {PUBLIC}} == {DENIED}

    service = await statuses(ChannelConfig(targets=address, token=SERVICE_TOKEN))
    assert got_in(service) == ALL_NAMES

    # A made-up lease gets to TaskService's own check, and no further than it.
    lease = await statuses(ChannelConfig(targets=address), [lease_header(secrets.token_hex(16))])
    assert got_in(lease) == {TASK}
    assert {lease[name] for name in ALL_NAMES - {TASK}} == {DENIED}

    # A lease that does not match the caller's, in any characters, is refused, not a crash.
    async with state_client(*address) as stubs:
        caller = run_pb2.TryLease(
            key=run_pb2.TaskInstanceKey(dag_id="d", run_id="r", task_id="t"),
            try_number=1,
            lease_id="lease-é",
        )
        with pytest.raises(aio.AioRpcError) as refused:
            await stubs.task.PushXCom(
                task_rr.PushXComRequest(caller=caller, value_json="1"),
                metadata=[lease_header(secrets.token_hex(16))],
            )
        assert refused.value.code() is DENIED

    # Streams carry the token too (the feed is quiet, so the call runs into its deadline).
    config = ChannelConfig(targets=address, token=SERVICE_TOKEN)
    async with create_channel(config, ALL_SERVICES) as channel:
        feed = event_grpc.EventServiceStub(channel).WatchEvents(
            event_rr.WatchEventsRequest(), timeout=1
        )
        with pytest.raises(aio.AioRpcError) as ended:
            async for _ in feed:
                pass
        assert ended.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

    # Probes need no credential.
    assert health_status(secured_state.address) == SERVING


@dataclass
class SecuredCluster:
    state: ServiceProcess
    dags_folder: Path
    others: list[ServiceProcess]


@pytest.fixture(scope="module")
def secured_cluster(
    secured_state: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecuredCluster]:
    """Processor, scheduler and executor authenticating with the service token.

    The executor gets its token through the environment, as a deployment would, so that the
    test can show its task processes do not inherit it.
    """
    folder = tmp_path_factory.mktemp("dags")
    address = secured_state.address
    others = [
        start_dag_processor(address, folder, "--state-token", SERVICE_TOKEN),
        start_service("scheduler", address, "--state-token", SERVICE_TOKEN),
        start_executor(address, folder, env={"TRADEWIND_STATE_TOKEN": SERVICE_TOKEN}),
    ]
    yield SecuredCluster(secured_state, folder, others)
    for process in others:
        process.stop()


#: A task that tries everything its process could reach with what it holds.
INTRUDER_DAG = """
import grpc

from protos.api.v1 import request_response_pb2 as api_rr
from protos.api.v1 import service_pb2_grpc as api_grpc
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.executor.v1 import request_response_pb2 as executor_rr
from protos.executor.v1 import service_pb2_grpc as executor_grpc
from protos.run.v1 import message_pb2 as run_pb2
from protos.task.v1 import request_response_pb2 as task_rr
from protos.task.v1 import service_pb2_grpc as task_grpc
from tradewind.sdk.runtime import current_runtime

ADDRESS = {address!r}


def outcome(call):
    try:
        call()
    except grpc.RpcError as err:
        return err.code().name
    return "OK"


@task
def victim() -> str:
    return "original"


@task
def intruder(_: str) -> dict:
    lease = current_runtime()._lease
    mine = [("authorization", f"Lease {{lease.lease_id}}")]
    other_key = run_pb2.TaskInstanceKey(
        dag_id=lease.key.dag_id, run_id=lease.key.run_id, task_id="victim"
    )
    forged = run_pb2.TryLease(key=other_key, try_number=1, lease_id=lease.lease_id)
    borrowed = run_pb2.TryLease(key=lease.key, try_number=1, lease_id="0" * 32)
    with grpc.insecure_channel(ADDRESS) as channel:
        api = api_grpc.ApiServiceStub(channel)
        executor = executor_grpc.ExecutorServiceStub(channel)
        tasks = task_grpc.TaskServiceStub(channel)
        found = {{
            "api_with_lease": outcome(
                lambda: api.ListDags(api_rr.ListDagsRequest(), metadata=mine)
            ),
            "api_without_credential": outcome(lambda: api.ListDags(api_rr.ListDagsRequest())),
            "complete_with_lease": outcome(
                lambda: executor.CompleteTaskInstance(
                    executor_rr.CompleteTaskInstanceRequest(
                        executor_id="x", lease=lease, outcome=1
                    ),
                    metadata=mine,
                )
            ),
            "append_logs_with_lease": outcome(
                lambda: executor.AppendTaskLogs(
                    executor_rr.AppendTaskLogsRequest(
                        executor_id="x",
                        chunks=[executor_pb2.TryLogChunk(lease=forged, chunk_index=99)],
                    ),
                    metadata=mine,
                )
            ),
            "push_as_victim": outcome(
                lambda: tasks.PushXCom(
                    task_rr.PushXComRequest(caller=forged, value_json='"forged"'),
                    metadata=mine,
                )
            ),
            "push_with_other_lease": outcome(
                lambda: tasks.PushXCom(
                    task_rr.PushXComRequest(caller=borrowed, value_json='"forged"'),
                    metadata=mine,
                )
            ),
            "push_without_credential": outcome(
                lambda: tasks.PushXCom(task_rr.PushXComRequest(caller=lease, value_json="1"))
            ),
            "own_push": outcome(
                lambda: tasks.PushXCom(
                    task_rr.PushXComRequest(caller=lease, xcom_key="own", value_json="1"),
                    metadata=mine,
                )
            ),
        }}
    found["environment"] = dict(os.environ)
    return found


with DAG("intruder", schedule=None, start_date=START):
    intruder(victim())
"""


async def test_a_task_process_can_act_only_for_its_own_try(
    secured_cluster: SecuredCluster,
) -> None:
    address = secured_cluster.state.address
    async with state_client(address, token=SERVICE_TOKEN) as client:
        await register(
            client,
            secured_cluster.dags_folder,
            "intruder.py",
            INTRUDER_DAG.format(address=address),
            ["intruder"],
        )
        run = await run_to_end(client, "intruder", within=30)
        assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        found = json.loads((await xcom_values(client, run, "intruder"))["return_value"])
        victim = await xcom_values(client, run, "victim")
        own = await xcom_values(client, run, "intruder")
    # A client with the API token reads the victim's log, streamed, and nothing forged is in it.
    async with Client(address, token=API_TOKEN) as api:
        lines = [line.message async for line in api.follow_logs("intruder", run.run_id, "victim")]
    assert lines
    assert not [line for line in lines if "forged" in line]

    environment: dict[str, str] = found.pop("environment")
    assert found == {
        "api_with_lease": "PERMISSION_DENIED",
        "api_without_credential": "UNAUTHENTICATED",
        "complete_with_lease": "PERMISSION_DENIED",
        "append_logs_with_lease": "PERMISSION_DENIED",
        "push_as_victim": "PERMISSION_DENIED",
        "push_with_other_lease": "PERMISSION_DENIED",
        "push_without_credential": "UNAUTHENTICATED",
        "own_push": "OK",
    }
    assert victim == {"return_value": '"original"'}
    assert own["own"] == "1"
    assert "PATH" in environment  # the task did report its environment
    assert "TRADEWIND_STATE_TOKEN" not in environment
    assert not [name for name, value in environment.items() if SERVICE_TOKEN in value]
    # The services themselves were let in everywhere, streams included (the scheduler's feed).
    for process in secured_cluster.others:
        assert "UNAUTHENTICATED" not in process.output()


# ---- mutual TLS: certificate names as credentials ----


@dataclass(frozen=True)
class Certificates:
    folder: Path
    ca: Path

    def client(self, name: str) -> ClientTLSConfig:
        return ClientTLSConfig(
            ca_file=self.ca,
            cert_file=self.folder / f"{name}.pem",
            key_file=self.folder / f"{name}.key",
        )


IDENTITIES = ("scheduler.tradewind", "cli.tradewind", "stranger.tradewind")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    for name, hosts in (("server", ("127.0.0.1", "localhost")), *((n, (n,)) for n in IDENTITIES)):
        issued = ca.issue_cert(*hosts)
        issued.cert_chain_pems[0].write_to_path(str(folder / f"{name}.pem"))
        issued.private_key_pem.write_to_path(str(folder / f"{name}.key"))
    return Certificates(folder=folder, ca=folder / "ca.pem")


@asynccontextmanager
async def mutual_tls_state(
    certificates: Certificates, template_databases: TemplateDatabases
) -> AsyncIterator[ServiceProcess]:
    process = start_state(
        template_databases.new_url("sqlite"),
        "--tls-cert",
        str(certificates.folder / "server.pem"),
        "--tls-key",
        str(certificates.folder / "server.key"),
        "--tls-client-ca",
        str(certificates.ca),
        "--service-identities",
        "scheduler.tradewind",
        "--api-identities",
        "cli.tradewind",
        "--service-tokens",
        SERVICE_TOKEN,
        wait=False,
    )
    try:
        config = ChannelConfig(targets=(process.address,), tls=certificates.client(IDENTITIES[0]))
        async with create_channel(config, []) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 30
            while True:
                answer = await health.Check(
                    health_pb2.HealthCheckRequest(), timeout=30, wait_for_ready=True
                )
                if answer.status == SERVING or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        yield process
    finally:
        process.stop()


async def test_certificate_names_grant_roles_under_mutual_tls(
    certificates: Certificates, template_databases: TemplateDatabases
) -> None:
    async with mutual_tls_state(certificates, template_databases) as state:
        address = (state.address,)

        def presenting(name: str, token: str = "") -> ChannelConfig:
            return ChannelConfig(targets=address, tls=certificates.client(name), token=token)

        assert got_in(await statuses(presenting("scheduler.tradewind"))) == ALL_NAMES
        cli = await statuses(presenting("cli.tradewind"))
        assert got_in(cli) == {PUBLIC}
        assert {cli[name] for name in ALL_NAMES - {PUBLIC}} == {DENIED}
        # Signed by the CA but listed nowhere: known, and allowed nothing.
        stranger = await statuses(presenting("stranger.tradewind"))
        assert set(stranger.values()) == {DENIED}
        # A token decides when one is sent, beside any certificate.
        assert got_in(await statuses(presenting("stranger.tradewind", SERVICE_TOKEN))) == ALL_NAMES
        wrong = await statuses(presenting("scheduler.tradewind", "not-the-token"))
        assert set(wrong.values()) == {UNAUTHENTICATED}
