"""Client channels to Tradewind services: replicas, failover, retries, keepalive, TLS, tokens.

A channel spreads calls over every replica with round-robin and skips the ones that are
down. RPCs that the contract marks idempotent (``option idempotency_level``) are retried
automatically on UNAVAILABLE through the gRPC service config; others are not, so a retry never
repeats a side effect.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import ServiceDescriptor
from grpc import aio

from tradewind_common.config import (
    ConfigError,
    Setting,
    Settings,
    parse_bool,
    parse_list,
    parse_optional_path,
    parse_text,
)
from tradewind_common.tls import ClientTLSConfig, channel_credentials

#: Attempts per idempotent call (gRPC caps this at 5), and the back-off between them.
RETRY_MAX_ATTEMPTS = 5
RETRY_INITIAL_BACKOFF_SECONDS = 0.1
RETRY_MAX_BACKOFF_SECONDS = 2.0
#: Keepalive pings find dead connections (a replica that vanished without closing them).
KEEPALIVE_TIME_MS = 20_000
KEEPALIVE_TIMEOUT_MS = 10_000
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class ChannelConfig:
    """Where a service is and how to reach it."""

    #: One or more ``host:port`` addresses of replicas, or a single gRPC target URI
    #: (``dns:///state.tradewind:50051`` resolves to every replica behind the name).
    targets: tuple[str, ...]
    tls: ClientTLSConfig | None = None
    #: Bearer token sent with every call.
    token: str = ""


def channel_target(targets: Sequence[str]) -> str:
    """Return one gRPC target for ``targets``.

    A single address becomes a ``dns:///`` target (re-resolved, so every address behind the
    name is used); a single URI is kept; several ``host:port`` addresses are resolved now and
    joined into one ``ipv4:``/``ipv6:`` target that round-robin spreads calls over.

    Raises:
        ConfigError: no target, a malformed address, or a name that does not resolve.

    """
    cleaned = [t.strip() for t in targets if t.strip()]
    if not cleaned:
        raise ConfigError("no service address configured")
    if len(cleaned) == 1:
        target = cleaned[0]
        return target if ":/" in target or target.startswith("unix:") else f"dns:///{target}"
    v4: list[str] = []
    v6: list[str] = []
    for target in cleaned:
        host, port = split_host_port(target)
        for address in _resolve(host, port):
            if ipaddress.ip_address(address).version == 4:
                v4.append(f"{address}:{port}")
            else:
                v6.append(f"[{address}]:{port}")
    if v4:
        return "ipv4:" + ",".join(dict.fromkeys(v4))
    return "ipv6:" + ",".join(dict.fromkeys(v6))


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6]:port``.

    Raises:
        ConfigError: the address has no valid port.

    """
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"invalid address {address!r}: expected host:port")
    return host.strip("[]"), int(port_text)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ConfigError(f"cannot resolve {host!r}: {err.strerror}") from err
    return [str(info[4][0]) for info in infos]


def idempotent_methods(services: Iterable[ServiceDescriptor]) -> list[dict[str, str]]:
    """Return the service-config names of the unary RPCs marked idempotent in the contract."""
    names = []
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if method.server_streaming or method.client_streaming:
                continue
            if options.idempotency_level != descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN:
                names.append({"service": service.full_name, "method": method.name})
    return names


def service_config(services: Iterable[ServiceDescriptor]) -> str:
    """Return the JSON service config: round-robin, and retries of idempotent RPCs."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    names = idempotent_methods(services)
    if names:
        config["methodConfig"] = [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": RETRY_MAX_ATTEMPTS,
                    "initialBackoff": f"{RETRY_INITIAL_BACKOFF_SECONDS}s",
                    "maxBackoff": f"{RETRY_MAX_BACKOFF_SECONDS}s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    return json.dumps(config)


if TYPE_CHECKING:  # grpc-stubs makes these generic; at run time they are plain classes
    _UnaryUnary = aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = aio.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary = aio.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream = aio.StreamStreamClientInterceptor[Any, Any]
    _BlockingUnaryUnary = grpc.UnaryUnaryClientInterceptor[Any, Any]
else:
    _UnaryUnary = aio.UnaryUnaryClientInterceptor
    _UnaryStream = aio.UnaryStreamClientInterceptor
    _StreamUnary = aio.StreamUnaryClientInterceptor
    _StreamStream = aio.StreamStreamClientInterceptor
    _BlockingUnaryUnary = grpc.UnaryUnaryClientInterceptor


class _TokenHeader:
    """Adds ``authorization: Bearer <token>`` to a call's metadata."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        metadata = aio.Metadata(*(details.metadata or ()), self._header)
        return aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class _UnaryUnaryToken(_TokenHeader, _UnaryUnary):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStreamToken(_TokenHeader, _UnaryStream):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnaryToken(_TokenHeader, _StreamUnary):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStreamToken(_TokenHeader, _StreamStream):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def token_interceptors(token: str) -> list[Any]:
    """Interceptors that send ``token`` with every call, whatever its kind.

    One object per kind: an aio channel files each interceptor under the first kind it is an
    instance of, so one object implementing all four would go unused by streaming calls.
    """
    kinds = (_UnaryUnaryToken, _UnaryStreamToken, _StreamUnaryToken, _StreamStreamToken)
    return [kind(token) for kind in kinds]


def channel_options(
    config: ChannelConfig, services: Iterable[ServiceDescriptor]
) -> list[tuple[str, Any]]:
    """The channel options every Tradewind client uses: service config, retries, keepalive."""
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", service_config(services)),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if config.tls is not None and config.tls.server_name:
        options.append(("grpc.ssl_target_name_override", config.tls.server_name))
    return options


def create_blocking_channel(
    config: ChannelConfig, services: Iterable[ServiceDescriptor]
) -> grpc.Channel:
    """A synchronous channel, for task processes whose user code calls Tradewind synchronously.

    Services use :func:`create_channel`; only code that runs inside a task process (where the
    task's own code blocks anyway) uses this one.
    """
    target = channel_target(config.targets)
    options = channel_options(config, services)
    if config.tls is None:
        channel = grpc.insecure_channel(target, options=options)
    else:
        channel = grpc.secure_channel(target, channel_credentials(config.tls), options=options)
    if config.token:
        header = ("authorization", f"Bearer {config.token}")
        channel = grpc.intercept_channel(channel, _BlockingTokenInterceptor(header))
    return channel


class _BlockingTokenInterceptor(_BlockingUnaryUnary):
    """Adds the bearer token to every unary call of a synchronous channel."""

    def __init__(self, header: tuple[str, str]) -> None:
        self._header = header

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        metadata = [*(client_call_details.metadata or ()), self._header]
        return continuation(client_call_details._replace(metadata=metadata), request)


def create_channel(config: ChannelConfig, services: Iterable[ServiceDescriptor]) -> aio.Channel:
    """Open an asyncio channel to the replicas of a service.

    Args:
        config: addresses, TLS and token.
        services: the gRPC services that will be called on the channel; their idempotent
            RPCs are retried on UNAVAILABLE.

    Raises:
        ConfigError: a malformed address or an unreadable TLS file.

    """
    options = channel_options(config, services)
    interceptors: Any = token_interceptors(config.token) if config.token else None
    target = channel_target(config.targets)
    if config.tls is None:
        return aio.insecure_channel(target, options=options, interceptors=interceptors)
    return aio.secure_channel(
        target, channel_credentials(config.tls), options=options, interceptors=interceptors
    )


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """The settings that say how to reach one service (e.g. the state service) as a client."""

    address: Setting[tuple[str, ...]]
    token: Setting[str]
    tls: Setting[bool]
    tls_ca: Setting[Path | None]
    tls_cert: Setting[Path | None]
    tls_key: Setting[Path | None]

    @classmethod
    def for_service(cls, service: str, *, default_address: str) -> ClientSettings:
        """Settings named ``<service>_address``, ``<service>_token``, ``<service>_tls_*``."""
        return cls(
            address=Setting(
                name=f"{service}_address",
                parse=parse_list,
                default=(default_address,),
                help=f"comma-separated host:port of the {service} service's replicas, or one URI",
            ),
            token=Setting(
                name=f"{service}_token",
                parse=parse_text,
                default="",
                help=f"bearer token sent to the {service} service",
            ),
            tls=Setting(
                name=f"{service}_tls",
                parse=parse_bool,
                default=False,
                switch=True,
                help=f"use TLS to reach the {service} service",
            ),
            tls_ca=Setting(
                name=f"{service}_tls_ca",
                parse=parse_optional_path,
                default=None,
                help=f"PEM CA bundle that the {service} service's certificate chains to",
            ),
            tls_cert=Setting(
                name=f"{service}_tls_cert",
                parse=parse_optional_path,
                default=None,
                help=f"PEM client certificate for the {service} service (mutual TLS)",
            ),
            tls_key=Setting(
                name=f"{service}_tls_key",
                parse=parse_optional_path,
                default=None,
                help="PEM private key of the client certificate",
            ),
        )

    def all(self) -> tuple[Setting[Any], ...]:
        """Every setting of the group."""
        return (self.address, self.token, self.tls, self.tls_ca, self.tls_cert, self.tls_key)

    def config(self, values: Settings) -> ChannelConfig:
        """Build the :class:`ChannelConfig` from resolved values."""
        use_tls = values[self.tls] or any(
            values[s] is not None for s in (self.tls_ca, self.tls_cert, self.tls_key)
        )
        tls = (
            ClientTLSConfig(
                ca_file=values[self.tls_ca],
                cert_file=values[self.tls_cert],
                key_file=values[self.tls_key],
            )
            if use_tls
            else None
        )
        return ChannelConfig(targets=values[self.address], tls=tls, token=values[self.token])
