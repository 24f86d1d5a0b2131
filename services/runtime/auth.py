"""Bearer-token authentication: who may call which RPC.

Public RPCs (the API and server info) accept an API token or a service token; internal RPCs
(what the scheduler, executor and DAG processor call) accept only a service token. Health and
reflection stay open so that probes and grpcurl work. With no tokens configured, every call is
allowed.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

PUBLIC_SERVICES = frozenset(
    {"tradewind.api.v1.ApiService", "tradewind.runtime.v1.ServerInfoService"}
)
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
AUTHORIZATION_HEADER = "authorization"
BEARER_PREFIX = "bearer "


class Role(enum.Enum):
    """What a credential may do."""

    CLIENT = "client"
    SERVICE = "service"


class AuthDecision(enum.Enum):
    """The outcome of checking one call."""

    ALLOW = "allow"
    #: No credential, or one that matches no configured token.
    UNAUTHENTICATED = "unauthenticated"
    #: A valid credential whose role may not call this RPC.
    PERMISSION_DENIED = "permission_denied"


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    """The accepted tokens; empty sets switch authentication off."""

    api_tokens: frozenset[str] = frozenset()
    service_tokens: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        """Whether any token is configured."""
        return bool(self.api_tokens or self.service_tokens)


def service_of(method: str) -> str:
    """Return ``pkg.Service`` of a full method name ``/pkg.Service/Method``."""
    return method.lstrip("/").split("/", 1)[0]


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """Return the bearer token of the call's metadata, if any."""
    for key, value in metadata:
        if (
            key.lower() == AUTHORIZATION_HEADER
            and isinstance(value, str)
            and value.lower().startswith(BEARER_PREFIX)
        ):
            return value[len(BEARER_PREFIX) :].strip()
    return None


def role_of(token: str, config: AuthConfig) -> Role | None:
    """Return the role a token grants, comparing in constant time."""
    if any(hmac.compare_digest(token, known) for known in config.service_tokens):
        return Role.SERVICE
    if any(hmac.compare_digest(token, known) for known in config.api_tokens):
        return Role.CLIENT
    return None


def authorize(method: str, token: str | None, config: AuthConfig) -> AuthDecision:
    """Decide whether a call of ``method`` with ``token`` may proceed."""
    service = service_of(method)
    if not config.enabled or service in OPEN_SERVICES:
        return AuthDecision.ALLOW
    role = role_of(token, config) if token else None
    if role is None:
        return AuthDecision.UNAUTHENTICATED
    if role is Role.SERVICE or service in PUBLIC_SERVICES:
        return AuthDecision.ALLOW
    return AuthDecision.PERMISSION_DENIED
