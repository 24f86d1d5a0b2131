"""The TLS overlay (deploy/k8s/tls) as real processes: a state service and a scheduler started
with exactly the overlay's variables and generated secrets, the Secret tradewind-tls made of a
test CA's certificate (for 127.0.0.1, where the processes listen here). The state service then
speaks only TLS on its gRPC port and plaintext health on the health port, the scheduler reaches
it through the CA, and the tokens still decide who may call what."""

from __future__ import annotations

import asyncio
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2

from protos.scheduler.v1 import request_response_pb2 as scheduler_rr
from protos.scheduler.v1 import service_pb2_grpc as scheduler_grpc
from tests.deploy.deployfiles import (
    MIGRATE,
    SERVICE_TOKENS,
    Workload,
    generated_k8s,
    kubernetes_workloads,
    render_kustomization,
)
from tests.deploy.test_live import fresh_database, localize
from tests.helpers.databases import require_postgres
from tests.helpers.processes import ServiceProcess, free_port, health_status
from tradewind_common.channels import ChannelConfig, create_channel
from tradewind_common.tls import ClientTLSConfig

TLS_MOUNT = "/run/secrets/tradewind-tls/"


@dataclass
class TlsSuite:
    state_address: str
    health_address: str
    ca_file: Path
    service_token: str
    state: ServiceProcess
    state_metrics_port: int
    scheduler: ServiceProcess


def with_tls_files(env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` with every path under the tradewind-tls mount made a path in ``folder``."""
    return {
        name: str(folder / value.removeprefix(TLS_MOUNT)) if value.startswith(TLS_MOUNT) else value
        for name, value in env.items()
    }


@pytest.fixture(scope="module")
def suite(postgres_status: str | None) -> Iterator[TlsSuite]:
    require_postgres(postgres_status)
    docs = render_kustomization(generated_k8s() / "tls")
    if docs is None:
        pytest.skip("neither kubectl nor kustomize is installed (the TLS overlay patches)")
    workloads = {w.component: w for w in kubernetes_workloads(docs).values()}
    scratch = Path(tempfile.mkdtemp(prefix="tradewind-deploy-tls-"))
    # The Secret tradewind-tls: tls.crt, tls.key, ca.crt.
    tls = scratch / "tls"
    tls.mkdir()
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "state")
    issued.cert_chain_pems[0].write_to_path(str(tls / "tls.crt"))
    issued.private_key_pem.write_to_path(str(tls / "tls.key"))
    ca.cert_pem.write_to_path(str(tls / "ca.crt"))
    processes: list[ServiceProcess] = []
    with fresh_database() as url:

        def local(
            workload: Workload, port: int, metrics_port: int, state: list[str]
        ) -> dict[str, str]:
            home = Path(tempfile.mkdtemp(dir=scratch))
            _, env = localize(
                workload,
                port=port,
                metrics_port=metrics_port,
                state_addresses=state,
                database_url=url,
                home=str(home),
                dags_folder=scratch / "dags",
                secrets_folder=home / "run-secrets",
            )
            return with_tls_files(env, tls)

        try:
            migrate = ServiceProcess(
                args=["-m", "tradewind.cli", *workloads[MIGRATE].args],
                port=0,
                env=local(workloads[MIGRATE], 0, 0, []),
            )
            migrate.start()
            assert migrate.wait(timeout=60) == 0, migrate.output()
            state_port, state_metrics_port = free_port(), free_port()
            state_env = local(workloads["state"], state_port, state_metrics_port, [])
            health_port = int(state_env["TRADEWIND_HEALTH_PORT"])
            assert health_port == 8086, "the overlay's health port"
            state_env["TRADEWIND_HEALTH_PORT"] = str(free_port())  # 8086 may be taken here
            health = ServiceProcess(
                args=["-m", "tradewind.cli", *workloads["state"].args],
                port=int(state_env["TRADEWIND_HEALTH_PORT"]),
                env=state_env,
            )
            processes.append(health)
            health.start().wait_serving(timeout=30)
            state_address = f"127.0.0.1:{state_port}"
            scheduler_port = free_port()
            scheduler = ServiceProcess(
                args=["-m", "tradewind.cli", *workloads["scheduler"].args],
                port=scheduler_port,
                env=local(workloads["scheduler"], scheduler_port, free_port(), [state_address]),
            )
            processes.append(scheduler)
            scheduler.start().wait_serving(timeout=30)
            token = workloads["state"].setting(SERVICE_TOKENS)
            assert token
            yield TlsSuite(
                state_address=state_address,
                health_address=health.address,
                ca_file=tls / "ca.crt",
                service_token=token,
                state=health,
                state_metrics_port=state_metrics_port,
                scheduler=scheduler,
            )
        finally:
            for process in reversed(processes):
                process.stop()


def test_the_state_port_speaks_tls_and_the_health_port_plaintext(suite: TlsSuite) -> None:
    assert health_status(suite.health_address) == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError):
        health_status(suite.state_address)  # plaintext on the TLS port gets no answer


async def test_clients_reach_it_through_the_ca_and_still_need_the_token(suite: TlsSuite) -> None:
    tls = ClientTLSConfig(ca_file=suite.ca_file)
    for token, expected in ((suite.service_token, None), ("", grpc.StatusCode.UNAUTHENTICATED)):
        config = ChannelConfig(targets=(suite.state_address,), tls=tls, token=token)
        async with create_channel(config, []) as channel:
            stub = scheduler_grpc.SchedulerServiceStub(channel)
            request = scheduler_rr.ListSchedulableDagsRequest()
            if expected is None:
                await stub.ListSchedulableDags(request, timeout=10)
            else:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.ListSchedulableDags(request, timeout=10)
                assert refused.value.code() == expected


def handled(metrics_port: int, method: str) -> float:
    """The state service's count of ``method`` calls that ended OK."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        page = response.read().decode()
    total = 0.0
    for line in page.splitlines():
        if (
            line.startswith("grpc_server_handled_total{")
            and f'grpc_method="{method}"' in line
            and 'grpc_code="OK"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_the_scheduler_calls_the_state_service_over_tls(suite: TlsSuite) -> None:
    """The scheduler claims runs (an RPC the test itself never makes) and is answered OK."""
    deadline = time.monotonic() + 20
    while handled(suite.state_metrics_port, "ClaimDagRuns") < 1:
        assert time.monotonic() < deadline, (
            f"the scheduler never reached the state service: {suite.scheduler.output()[-3000:]}"
        )
        await asyncio.sleep(0.2)
