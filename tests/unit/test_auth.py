from __future__ import annotations

import pytest

from services.runtime.auth import AuthConfig, AuthDecision, authorize, bearer_token

CONFIG = AuthConfig(api_tokens=frozenset({"client-t"}), service_tokens=frozenset({"service-t"}))
PUBLIC = "/tradewind.api.v1.ApiService/ListDags"
INTERNAL = "/tradewind.executor.v1.ExecutorService/LeaseTaskInstances"
HEALTH = "/grpc.health.v1.Health/Check"


@pytest.mark.parametrize(
    ("method", "token", "decision"),
    [
        (PUBLIC, None, AuthDecision.UNAUTHENTICATED),
        (PUBLIC, "wrong", AuthDecision.UNAUTHENTICATED),
        (PUBLIC, "client-t", AuthDecision.ALLOW),
        (PUBLIC, "service-t", AuthDecision.ALLOW),
        (INTERNAL, None, AuthDecision.UNAUTHENTICATED),
        (INTERNAL, "client-t", AuthDecision.PERMISSION_DENIED),
        (INTERNAL, "service-t", AuthDecision.ALLOW),
        (HEALTH, None, AuthDecision.ALLOW),
        (
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            None,
            AuthDecision.ALLOW,
        ),
    ],
)
def test_authorize(method: str, token: str | None, decision: AuthDecision) -> None:
    assert authorize(method, token, CONFIG) is decision


def test_everything_is_allowed_without_tokens() -> None:
    assert authorize(INTERNAL, None, AuthConfig()) is AuthDecision.ALLOW


def test_bearer_token_is_read_case_insensitively() -> None:
    assert bearer_token([("Authorization", "Bearer abc ")]) == "abc"
    assert bearer_token([("authorization", "bearer abc")]) == "abc"
    assert bearer_token([("authorization", "Basic abc")]) is None
    assert bearer_token([("x-other", "Bearer abc")]) is None
