"""A service built on the shared runtime, run as a real process on free loopback ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from protos.runtime.v1 import request_response_pb2, service_pb2, service_pb2_grpc
from tests.helpers.processes import (
    REPO_ROOT,
    ServiceProcess,
    assert_eventually,
    child_environment,
    free_port,
    health_status,
)
from tradewind_common.channels import ChannelConfig, create_channel
from tradewind_common.tls import ClientTLSConfig

APP = ("-m", "tests.helpers.runtime_app")
SERVICES = [service_pb2.DESCRIPTOR.services_by_name["ServerInfoService"]]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def start_app(*flags: str, metrics: bool = False) -> ServiceProcess:
    port = free_port()
    args = [*APP, "--port", str(port), "--grace-period", "3", *flags]
    if metrics and "--metrics-port" not in flags:
        args += ["--metrics-port", str(free_port())]
    return ServiceProcess(args=args, port=port).start()


@pytest.fixture
def app() -> Iterator[ServiceProcess]:
    process = start_app(metrics=True).wait_serving()
    yield process
    process.stop()


def metrics_port(process: ServiceProcess) -> int:
    return int(process.args[process.args.index("--metrics-port") + 1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def server_info(config: ChannelConfig) -> request_response_pb2.GetServerInfoResponse:
    async with create_channel(config, SERVICES) as channel:
        stub = service_pb2_grpc.ServerInfoServiceStub(channel)
        return await stub.GetServerInfo(request_response_pb2.GetServerInfoRequest(), timeout=5)


async def assert_drains_on_sigterm(app: ServiceProcess, health_address: str) -> None:
    """SIGTERM turns the health seen at ``health_address`` NOT_SERVING; the app exits 0."""
    async with create_channel(ChannelConfig(targets=(health_address,)), []) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert (await watch.read()).status == SERVING
        app.signal(signal.SIGTERM)
        assert (await watch.read()).status == NOT_SERVING
        watch.cancel()
    assert app.wait(timeout=15) == 0


async def test_health_reflection_metrics_and_graceful_stop(app: ServiceProcess) -> None:
    info = await server_info(ChannelConfig(targets=(app.address,)))
    assert info.info.service == "runtime_test"
    assert info.info.grpc_address == app.address

    with grpc.insecure_channel(app.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        named = health.Check(
            health_pb2.HealthCheckRequest(service="tradewind.runtime.v1.ServerInfoService")
        )
        assert named.status == SERVING
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {
        "tradewind.runtime.v1.ServerInfoService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services

    page = scrape(metrics_port(app))
    assert (
        'grpc_server_handled_total{grpc_code="OK",grpc_method="GetServerInfo",'
        'grpc_service="tradewind.runtime.v1.ServerInfoService",grpc_type="unary"} 1.0'
    ) in page
    assert "grpc_server_handling_seconds_bucket{" in page
    assert "process_resident_memory_bytes" in page
    assert 'tradewind_serving{service="runtime_test"} 1.0' in page
    # Processes of the same user cannot read its environment or memory.
    assert "inspectable=False" in app.output()

    await assert_drains_on_sigterm(app, app.address)


async def test_token_authentication() -> None:
    app = start_app("--api-tokens", "client-secret", "--service-tokens", "service-secret")
    try:
        app.wait_serving()  # health stays open without a token
        for token in ("", "wrong"):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await server_info(ChannelConfig(targets=(app.address,), token=token))
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert "authorization: Bearer" in (refused.value.details() or "")
        for token in ("client-secret", "service-secret"):
            info = await server_info(ChannelConfig(targets=(app.address,), token=token))
            assert info.info.service == "runtime_test"
    finally:
        app.stop()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("executor.tradewind")
    files = {
        "ca": folder / "ca.pem",
        "server_cert": folder / "server.pem",
        "server_key": folder / "server.key",
        "client_cert": folder / "client.pem",
        "client_key": folder / "client.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["server_cert"]))
    server.private_key_pem.write_to_path(str(files["server_key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client_cert"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return files


async def test_tls_and_mutual_tls(certificates: dict[str, Path]) -> None:
    tls_flags = [
        "--tls-cert",
        str(certificates["server_cert"]),
        "--tls-key",
        str(certificates["server_key"]),
    ]
    plain = start_app(*tls_flags)
    mutual = start_app(*tls_flags, "--tls-client-ca", str(certificates["ca"]))
    try:
        trusting = ClientTLSConfig(ca_file=certificates["ca"])
        for process in (plain, mutual):
            # The health helper speaks plaintext, so wait on the TLS port through the channel.
            process_config = ChannelConfig(targets=(process.address,), tls=trusting)
            if process is plain:
                await _eventually_serving(process_config)
        info = await server_info(ChannelConfig(targets=(plain.address,), tls=trusting))
        assert info.info.service == "runtime_test"

        with_certificate = ClientTLSConfig(
            ca_file=certificates["ca"],
            cert_file=certificates["client_cert"],
            key_file=certificates["client_key"],
        )
        await _eventually_serving(ChannelConfig(targets=(mutual.address,), tls=with_certificate))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await server_info(ChannelConfig(targets=(mutual.address,), tls=trusting))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        info = await server_info(ChannelConfig(targets=(mutual.address,), tls=with_certificate))
        assert info.info.service == "runtime_test"
    finally:
        plain.stop()
        mutual.stop()


async def _eventually_serving(config: ChannelConfig) -> None:
    async with create_channel(config, []) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        response = await health.Check(
            health_pb2.HealthCheckRequest(), timeout=20, wait_for_ready=True
        )
        assert response.status in (SERVING, NOT_SERVING)


async def test_calls_fail_over_to_a_live_replica() -> None:
    first, second = start_app(), start_app()
    try:
        first.wait_serving()
        second.wait_serving()
        config = ChannelConfig(targets=(first.address, second.address))
        async with create_channel(config, SERVICES) as channel:
            stub = service_pb2_grpc.ServerInfoServiceStub(channel)
            request = request_response_pb2.GetServerInfoRequest()
            seen = {
                (await stub.GetServerInfo(request, timeout=5)).info.instance_id for _ in range(10)
            }
            assert len(seen) == 2, "round robin spreads calls over both replicas"
            first.stop()
            answers = [(await stub.GetServerInfo(request, timeout=5)).info for _ in range(10)]
            assert {a.grpc_address for a in answers} == {second.address}
    finally:
        first.stop()
        second.stop()


def run_bad_config(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *APP, *flags],
        cwd=REPO_ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--log-level", "loud"], "invalid value 'loud' for --log-level"),
        (["--port", "http"], "invalid value 'http' for --port"),
        (
            ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
            "cannot read TLS key file /nonexistent/key.pem",
        ),
        (["--tls-cert", "/nonexistent/cert.pem"], "TLS needs both --tls-cert and --tls-key"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--service-identities", "scheduler"], "they need mutual TLS (--tls-client-ca)"),
    ],
)
def test_bad_configuration_exits_with_one_line(flags: list[str], message: str) -> None:
    result = run_bad_config("--port", str(free_port()), *flags)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tradewind runtime_test: error: ")
    assert message in lines[0]


def test_port_in_use_exits_with_one_line(busy_port: int) -> None:
    result = run_bad_config("--port", str(busy_port))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{busy_port}: Address already in use" in result.stderr


def test_metrics_port_in_use_exits_with_one_line(busy_port: int) -> None:
    result = run_bad_config("--port", str(free_port()), "--metrics-port", str(busy_port))
    assert result.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{busy_port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_a_health_only_port_answers_probes_in_plaintext_beside_tls(
    certificates: dict[str, Path],
) -> None:
    health_port = free_port()
    app = start_app(
        "--tls-cert",
        str(certificates["server_cert"]),
        "--tls-key",
        str(certificates["server_key"]),
        "--health-port",
        str(health_port),
    )
    probe_address = f"127.0.0.1:{health_port}"
    try:
        assert_eventually(lambda: health_status(probe_address) == SERVING, timeout=20)
        # Only health there: the service's own RPCs stay behind TLS.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await server_info(ChannelConfig(targets=(probe_address,)))
        assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
        trusting = ClientTLSConfig(ca_file=certificates["ca"])
        info = await server_info(ChannelConfig(targets=(app.address,), tls=trusting))
        assert info.info.service == "runtime_test"
        # Draining shows on the probe port too, until the process ends.
        await assert_drains_on_sigterm(app, probe_address)
    finally:
        app.stop()


@pytest.mark.parametrize(
    ("module", "flags", "message"),
    [
        ("scheduler", ["--claim-duration", "0.2"], "--claim-duration"),
        ("scheduler", ["--sweep-interval", "0"], "expected at least 0.5 seconds"),
        ("scheduler", ["--spec-cache-size", "0"], "--spec-cache-size"),
        ("executor", ["--lease-duration", "0.5"], "expected at least 1 seconds"),
        ("dag_processor", ["--scan-interval", "0"], "--scan-interval"),
        ("dag_processor", ["--parse-memory-limit-mb", "-5"], "expected an integer of at least 0"),
    ],
)
def test_an_out_of_range_setting_stops_the_service_at_start(
    module: str, flags: list[str], message: str
) -> None:
    """Values outside a setting's range are refused with one line, never clamped in silence."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--port", str(free_port()), "--metrics-port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
