"""Authentication and authorization: who may call which RPC.

Three kinds of caller, each with its own credential:

- clients (the CLI, users' programs) present an API token, or a client certificate whose name
  is listed as an API identity, and may call the public services only;
- services (scheduler, executor, DAG processor) present a service token, or a client certificate
  whose name is listed as a service identity, and may call every RPC;
- task processes present their try's lease (``authorization: Lease <lease id>``) and may call
  TaskService only; the state service checks the lease itself against its records and lets a
  task act for its own try alone.

Health and reflection stay open so that probes and grpcurl work. With no token and no identity
configured, authentication is off and every call is allowed.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PUBLIC_SERVICES = frozenset(
    {"tradewind.api.v1.ApiService", "tradewind.runtime.v1.ServerInfoService"}
)
#: Services a task process may call with its lease as credential.
TASK_SERVICES = frozenset({"tradewind.task.v1.TaskService"})
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
AUTHORIZATION_HEADER = "authorization"
BEARER_SCHEME = "bearer"
LEASE_SCHEME = "lease"
#: The names of a peer's verified client certificate, as gRPC's auth context lists them.
PEER_NAME_PROPERTIES = ("x509_common_name", "x509_subject_alternative_name")


class Role(enum.Enum):
    """What a credential may do."""

    CLIENT = "client"
    SERVICE = "service"
    TASK = "task"


class AuthDecision(enum.Enum):
    """The outcome of checking one call."""

    ALLOW = "allow"
    #: No credential, or one that matches no configured token.
    UNAUTHENTICATED = "unauthenticated"
    #: A valid credential whose role may not call this RPC.
    PERMISSION_DENIED = "permission_denied"


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    """The accepted tokens and certificate names; all empty switches authentication off."""

    api_tokens: frozenset[str] = frozenset()
    service_tokens: frozenset[str] = frozenset()
    #: Client-certificate names (common name or subject alternative name) of API clients.
    api_identities: frozenset[str] = frozenset()
    #: Client-certificate names of services.
    service_identities: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        """Whether any token or identity is configured."""
        return bool(self.api_tokens or self.service_tokens or self.uses_identities)

    @property
    def uses_identities(self) -> bool:
        """Whether certificate names grant roles (the peer must be looked at per call)."""
        return bool(self.api_identities or self.service_identities)


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What one call presents."""

    token: str | None = None
    lease_id: str | None = None
    #: Names of the peer's verified client certificate (mutual TLS).
    peer_names: tuple[str, ...] = ()


def service_of(method: str) -> str:
    """Return ``pkg.Service`` of a full method name ``/pkg.Service/Method``."""
    return method.lstrip("/").split("/", 1)[0]


def _authorization(metadata: Iterable[tuple[str, str | bytes]], scheme: str) -> str | None:
    for key, value in metadata:
        if key.lower() != AUTHORIZATION_HEADER or not isinstance(value, str):
            continue
        given, _, credential = value.strip().partition(" ")
        if given.lower() == scheme:
            return credential.strip()
    return None


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """Return the bearer token of the call's metadata, if any."""
    return _authorization(metadata, BEARER_SCHEME)


def lease_credential(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """Return the lease id a task process presents (``authorization: Lease <id>``), if any."""
    return _authorization(metadata, LEASE_SCHEME) or None


def lease_header(lease_id: str) -> tuple[str, str]:
    """The metadata entry with which a task process presents its lease."""
    return (AUTHORIZATION_HEADER, f"Lease {lease_id}")


def peer_names(auth_context: Mapping[str, Iterable[bytes]]) -> tuple[str, ...]:
    """The names of a peer's verified certificate, from gRPC's auth context."""
    return tuple(
        name.decode(errors="replace")
        for prop in PEER_NAME_PROPERTIES
        for name in auth_context.get(prop, ())
    )


def credentials_of(
    metadata: Iterable[tuple[str, str | bytes]], auth_context: Mapping[str, Iterable[bytes]]
) -> Credentials:
    """Everything a call presents: its token, its lease and its certificate's names."""
    entries = tuple(metadata)
    return Credentials(
        token=bearer_token(entries),
        lease_id=lease_credential(entries),
        peer_names=peer_names(auth_context),
    )


def _known(token: str, known: frozenset[str]) -> bool:
    return any(hmac.compare_digest(token.encode(), k.encode()) for k in known)


def role_of(credentials: Credentials, config: AuthConfig) -> Role | AuthDecision:
    """The role a call's credentials grant, or why they grant none.

    A token, when sent, decides alone: an unknown one is refused even beside a good certificate.
    A certificate whose names are listed nowhere proves who the caller is but grants nothing.
    """
    if credentials.token:
        if _known(credentials.token, config.service_tokens):
            return Role.SERVICE
        if _known(credentials.token, config.api_tokens):
            return Role.CLIENT
        return AuthDecision.UNAUTHENTICATED
    if credentials.lease_id:
        return Role.TASK
    names = set(credentials.peer_names)
    if names & config.service_identities:
        return Role.SERVICE
    if names & config.api_identities:
        return Role.CLIENT
    if names and config.uses_identities:
        return AuthDecision.PERMISSION_DENIED
    return AuthDecision.UNAUTHENTICATED


def may_call(role: Role, service: str) -> bool:
    """Whether a role may call the RPCs of ``service``."""
    if role is Role.SERVICE:
        return True
    if role is Role.CLIENT:
        return service in PUBLIC_SERVICES
    return service in TASK_SERVICES


def authorize(method: str, credentials: Credentials, config: AuthConfig) -> AuthDecision:
    """Decide whether a call of ``method`` with ``credentials`` may proceed."""
    service = service_of(method)
    if not config.enabled or service in OPEN_SERVICES:
        return AuthDecision.ALLOW
    role = role_of(credentials, config)
    if isinstance(role, AuthDecision):
        return role
    return AuthDecision.ALLOW if may_call(role, service) else AuthDecision.PERMISSION_DENIED


def refusal_message(method: str, decision: AuthDecision) -> str:
    """What a refused caller is told, naming the credential that would work."""
    service = service_of(method)
    if decision is AuthDecision.UNAUTHENTICATED:
        return (
            f"{method} needs a valid credential: send 'authorization: Bearer <token>'"
            " or a client certificate whose name the server lists"
        )
    if service in TASK_SERVICES:
        return f"{method} is for task processes (their lease) and services (a service token)"
    return f"{method} is internal to {service}: it needs a service token or service identity"
