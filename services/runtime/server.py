"""The gRPC server every Tradewind service runs on.

:func:`run_service` takes a :class:`ServiceApp` (the service's own gRPC servicers and
background work) and a :class:`ServerConfig`, and provides the rest: the standard health
service (NOT_SERVING while starting and while draining), server reflection, ServerInfoService,
the interceptors (metrics, logs, auth, error mapping), the Prometheus endpoint, TLS, and a
graceful shutdown on SIGTERM/SIGINT that lets in-flight RPCs finish within a grace period and
exits 0.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from protos.runtime.v1 import service_pb2 as runtime_service_pb2
from protos.runtime.v1 import service_pb2_grpc as runtime_service_pb2_grpc
from services.runtime.auth import AuthConfig
from services.runtime.hardening import forbid_inspection
from services.runtime.info import ProcessIdentity, ServerInfoServicer
from services.runtime.interceptors import (
    AuthInterceptor,
    ErrorInterceptor,
    ObservabilityInterceptor,
)
from services.runtime.logs import configure_logging
from services.runtime.metrics import BUILD_INFO, SERVING, MetricsEndpoint, start_metrics_endpoint
from services.runtime.reflection import enable_reflection
from services.runtime.tls import ServerTLSConfig, server_credentials
from tradewind_common import config as cfg
from tradewind_common.config import ConfigError
from tradewind_common.processes import SUPERVISOR_PID_ENV, die_with_parent

logger = logging.getLogger("tradewind.server")
# The asyncio health servicer; grpc-stubs only describe the synchronous one.
AsyncHealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]

#: Seconds that in-flight RPCs get to finish after SIGTERM before they are cancelled.
DEFAULT_GRACE_SECONDS = 10.0
#: Exit status for bad configuration (as for a command-line usage error).
EXIT_CONFIG_ERROR = 2


@dataclass(frozen=True)
class GrpcService:
    """One gRPC service an app serves: its full name and how to add its servicer."""

    full_name: str
    register: Callable[[aio.Server], None]


@dataclass
class RuntimeContext:
    """What the runtime hands to an app when it starts."""

    identity: ProcessIdentity
    config: ServerConfig
    _health: Any
    _service_names: Sequence[str]
    #: Set when shutdown begins; long-lived streams should end when it is set.
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING or NOT_SERVING on the health service (e.g. while a dependency is down)."""
        if self.shutting_down.is_set():
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self._service_names):
            await self._health.set(name, status)
        SERVING.labels(self.identity.service).set(1 if serving else 0)


class ServiceApp(Protocol):
    """A Tradewind service: its servicers plus the work it does in the background."""

    #: "state", "scheduler", "executor", "dag_processor".
    service_name: str

    def grpc_services(self) -> Sequence[GrpcService]:
        """The gRPC services to serve besides health, reflection and server info."""

    async def start(self, context: RuntimeContext) -> None:
        """Prepare and start background work; the service reports SERVING once this returns."""

    async def stop(self, grace_seconds: float) -> None:
        """Stop background work within ``grace_seconds``; called after the server stopped."""


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How a service listens and reports."""

    service: str
    host: str
    port: int
    metrics_port: int
    #: A plaintext port serving only the health service (0: none).
    health_port: int
    grace_seconds: float
    log_level: str
    log_format: str
    tls: ServerTLSConfig | None
    auth: AuthConfig

    @property
    def address(self) -> str:
        """``host:port`` as gRPC binds it."""
        return bind_address(self.host, self.port)


HOST = cfg.Setting(
    name="host",
    parse=cfg.parse_text,
    default="127.0.0.1",
    help="address to listen on for gRPC and metrics (0.0.0.0 for every interface)",
)
HEALTH_PORT = cfg.Setting(
    name="health_port",
    parse=cfg.parse_optional_port,
    default=0,
    help="plaintext port that serves only grpc.health.v1, for probes that cannot speak TLS"
    " (Kubernetes gRPC probes); 0 disables it",
)
GRACE = cfg.Setting(
    name="grace_period",
    parse=cfg.parse_seconds,
    default=DEFAULT_GRACE_SECONDS,
    help="seconds that in-flight work gets to finish after SIGTERM",
)
TLS_CERT = cfg.Setting(
    name="tls_cert",
    parse=cfg.parse_optional_path,
    default=None,
    help="PEM certificate; enables TLS",
)
TLS_KEY = cfg.Setting(
    name="tls_key",
    parse=cfg.parse_optional_path,
    default=None,
    help="PEM private key of --tls-cert",
)
TLS_CLIENT_CA = cfg.Setting(
    name="tls_client_ca",
    parse=cfg.parse_optional_path,
    default=None,
    help="PEM CA bundle; clients must present a certificate it signed (mutual TLS)",
)
API_TOKENS = cfg.Setting[tuple[str, ...]](
    name="api_tokens",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated tokens accepted for the public API; enables authentication",
)
SERVICE_TOKENS = cfg.Setting[tuple[str, ...]](
    name="service_tokens",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated tokens accepted for every RPC, internal ones included",
)
API_IDENTITIES = cfg.Setting[tuple[str, ...]](
    name="api_identities",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated client-certificate names (CN or SAN) accepted for the public API;"
    " needs --tls-client-ca",
)
SERVICE_IDENTITIES = cfg.Setting[tuple[str, ...]](
    name="service_identities",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated client-certificate names (CN or SAN) accepted for every RPC;"
    " needs --tls-client-ca",
)


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """The settings of a service's server, with that service's default ports."""

    port: cfg.Setting[int]
    metrics_port: cfg.Setting[int]

    @classmethod
    def with_defaults(cls, *, port: int, metrics_port: int) -> ServerSettings:
        """Settings whose ports default to the given ones."""
        return cls(
            port=cfg.Setting(name="port", parse=cfg.parse_port, default=port, help="gRPC port"),
            metrics_port=cfg.Setting(
                name="metrics_port",
                parse=cfg.parse_optional_port,
                default=metrics_port,
                help="Prometheus metrics port (0 disables the endpoint)",
            ),
        )

    def all(self) -> tuple[cfg.Setting[Any], ...]:
        """Every setting, in the order shown by --help."""
        return (
            HOST,
            self.port,
            self.metrics_port,
            HEALTH_PORT,
            GRACE,
            cfg.LOG_LEVEL,
            cfg.LOG_FORMAT,
            TLS_CERT,
            TLS_KEY,
            TLS_CLIENT_CA,
            API_TOKENS,
            SERVICE_TOKENS,
            API_IDENTITIES,
            SERVICE_IDENTITIES,
        )

    def config(self, service: str, values: cfg.Settings) -> ServerConfig:
        """Build a :class:`ServerConfig` from resolved values.

        Raises:
            ConfigError: TLS settings that do not go together.

        """
        cert, key, client_ca = values[TLS_CERT], values[TLS_KEY], values[TLS_CLIENT_CA]
        if (cert is None) != (key is None):
            raise ConfigError("TLS needs both --tls-cert and --tls-key (TRADEWIND_TLS_CERT/_KEY)")
        if client_ca is not None and cert is None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key as well")
        tls = (
            ServerTLSConfig(cert_file=cert, key_file=key, client_ca_file=client_ca)
            if cert is not None and key is not None
            else None
        )
        api_tokens: tuple[str, ...] = values[API_TOKENS]
        service_tokens: tuple[str, ...] = values[SERVICE_TOKENS]
        api_identities: tuple[str, ...] = values[API_IDENTITIES]
        service_identities: tuple[str, ...] = values[SERVICE_IDENTITIES]
        if (api_identities or service_identities) and client_ca is None:
            raise ConfigError(
                "--api-identities and --service-identities name client certificates:"
                " they need mutual TLS (--tls-client-ca)"
            )
        return ServerConfig(
            service=service,
            host=values[HOST],
            port=values[self.port],
            metrics_port=values[self.metrics_port],
            health_port=values[HEALTH_PORT],
            grace_seconds=values[GRACE],
            log_level=values[cfg.LOG_LEVEL],
            log_format=values[cfg.LOG_FORMAT],
            tls=tls,
            auth=AuthConfig(
                api_tokens=frozenset(api_tokens),
                service_tokens=frozenset(service_tokens),
                api_identities=frozenset(api_identities),
                service_identities=frozenset(service_identities),
            ),
        )


def _check_port_free(host: str, port: int) -> None:
    """Bind and release the address first, so a busy port gives one clear error."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except OSError as err:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {err.strerror or err}"
            " (use --port / TRADEWIND_PORT to pick another port)"
        ) from err


def _bind(server: aio.Server, config: ServerConfig) -> None:
    _check_port_free(config.host, config.port)
    credentials = server_credentials(config.tls) if config.tls else None
    try:
        if credentials is None:
            bound = server.add_insecure_port(config.address)
        else:
            bound = server.add_secure_port(config.address, credentials)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise ConfigError(f"cannot listen on {config.address}: gRPC could not bind the address")


def bind_address(host: str, port: int) -> str:
    """``host:port`` as gRPC binds it (IPv6 hosts in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _health_server(health: Any, config: ServerConfig) -> aio.Server:
    """A plaintext server with only the health service, sharing the main server's statuses."""
    _check_port_free(config.host, config.health_port)
    server = aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = bind_address(config.host, config.health_port)
    if server.add_insecure_port(address) == 0:
        raise ConfigError(f"cannot listen on {address}: gRPC could not bind the address")
    return server


async def serve(app: ServiceApp, config: ServerConfig) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then drain and return.

    Raises:
        ConfigError: the ports cannot be bound or the TLS files cannot be read.

    """
    identity = ProcessIdentity.create(config.service)
    inspectable = not forbid_inspection()
    server = aio.server(
        interceptors=[ObservabilityInterceptor(), AuthInterceptor(config.auth), ErrorInterceptor()],
        options=[
            # Without this, a second process could bind the same port and silently share it.
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ],
    )
    services = list(app.grpc_services())
    health_servicer = AsyncHealthServicer()
    names = [s.full_name for s in services] + [
        runtime_service_pb2.DESCRIPTOR.services_by_name["ServerInfoService"].full_name
    ]
    for service in services:
        service.register(server)
    runtime_service_pb2_grpc.add_ServerInfoServiceServicer_to_server(
        ServerInfoServicer(identity, grpc_address=config.address, metrics_port=config.metrics_port),
        server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection([*names, health.SERVICE_NAME], server)
    context = RuntimeContext(identity, config, health_servicer, names)
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    _bind(server, config)
    health_only = _health_server(health_servicer, config) if config.health_port else None
    metrics: MetricsEndpoint | None = None
    if config.metrics_port:
        metrics = start_metrics_endpoint(config.host, config.metrics_port)
    BUILD_INFO.labels(identity.service, identity.version, identity.instance_id).set(1)

    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)

    await server.start()
    if health_only is not None:
        await health_only.start()
    try:
        await app.start(context)
        await context.set_serving(True)
        logger.info(
            "serving",
            extra={
                "action": "serve",
                "address": config.address,
                "metrics_port": config.metrics_port,
                "instance_id": identity.instance_id,
                "tls": config.tls is not None,
                "auth": config.auth.enabled,
                "inspectable": inspectable,
            },
        )
        await stop_requested.wait()
    finally:
        logger.info("draining", extra={"action": "drain", "grace_seconds": config.grace_seconds})
        context.shutting_down.set()
        SERVING.labels(identity.service).set(0)
        await health_servicer.enter_graceful_shutdown()
        await server.stop(config.grace_seconds)
        await app.stop(config.grace_seconds)
        if health_only is not None:
            await health_only.stop(0)
        if metrics is not None:
            metrics.close()
        logger.info("stopped", extra={"action": "stop"})


AppFactory = Callable[[ServerConfig, cfg.Settings], ServiceApp]


@dataclass(frozen=True, kw_only=True)
class ServiceDefinition:
    """What a service's command needs: its name, default ports, help and own settings."""

    name: str
    port: int
    metrics_port: int
    description: str
    settings: Sequence[cfg.Setting[Any]] = ()


class EntryPoint(Protocol):
    """A service command's ``main``: arguments after the command in, exit status out."""

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        """Serve until stopped (``argv`` defaults to ``sys.argv[1:]``)."""
        ...


def entry_point(definition: ServiceDefinition, app_factory: AppFactory) -> EntryPoint:
    """The ``main(argv)`` of a service: :func:`service_main` with its definition."""

    def main(argv: Sequence[str] | None = None) -> int:
        return service_main(
            definition.name,
            sys.argv[1:] if argv is None else argv,
            app_factory,
            port=definition.port,
            metrics_port=definition.metrics_port,
            description=definition.description,
            extra_settings=definition.settings,
        )

    main.__doc__ = f"Serve the {definition.name} service until SIGTERM; return the exit status."
    return main


def service_main(
    service: str,
    argv: Sequence[str],
    app_factory: AppFactory,
    *,
    port: int,
    metrics_port: int,
    description: str = "",
    extra_settings: Sequence[cfg.Setting[Any]] = (),
) -> int:
    """Parse a service's flags and ``TRADEWIND_*`` variables, then serve it until stopped.

    Args:
        service: the service's name, e.g. "state".
        argv: the command-line arguments after the command name.
        app_factory: builds the app from the server config and every resolved setting.
        port: the default gRPC port.
        metrics_port: the default metrics port.
        description: the --help text.
        extra_settings: the service's own settings, besides the server's.

    Returns:
        The exit status: 0 after a graceful stop, 2 for bad configuration, which is printed
        as one line naming the problem.

    """
    # A crash in native code (gRPC, a database driver) prints every thread's Python stack.
    faulthandler.enable()
    supervisor = os.environ.get(SUPERVISOR_PID_ENV, "")
    if supervisor.isdigit():
        # Started by `tradewind standalone`: drain and stop when it dies, however it dies.
        die_with_parent(signal.SIGTERM, expected_parent=int(supervisor))
    server_settings = ServerSettings.with_defaults(port=port, metrics_port=metrics_port)
    settings = (*server_settings.all(), *extra_settings)
    try:
        parser = cfg.build_parser(f"tradewind {service}", description, settings)
        values = cfg.resolve_settings(parser.parse_args(argv), settings)
        config = server_settings.config(service, values)
        app = app_factory(config, values)
        configure_logging(service=service, level=config.log_level, fmt=config.log_format)
        asyncio.run(serve(app, config))
    except ConfigError as err:
        print(f"tradewind {service}: error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return 0
