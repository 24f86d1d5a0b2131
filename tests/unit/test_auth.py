from __future__ import annotations

import pytest

from services.runtime.auth import (
    AuthConfig,
    AuthDecision,
    Credentials,
    authorize,
    bearer_token,
    credentials_of,
    lease_credential,
    lease_header,
    peer_names,
)

CONFIG = AuthConfig(
    api_tokens=frozenset({"client-t"}),
    service_tokens=frozenset({"service-t"}),
    api_identities=frozenset({"cli.example"}),
    service_identities=frozenset({"scheduler.tradewind"}),
)
PUBLIC = "/tradewind.api.v1.ApiService/ListDags"
INTERNAL = "/tradewind.executor.v1.ExecutorService/LeaseTaskInstances"
TASK = "/tradewind.task.v1.TaskService/PushXCom"
HEALTH = "/grpc.health.v1.Health/Check"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

NOTHING = Credentials()
CLIENT = Credentials(token="client-t")
SERVICE = Credentials(token="service-t")
WRONG = Credentials(token="wrong")
LEASE = Credentials(lease_id="0123abcd")
CLIENT_CERT = Credentials(peer_names=("cli.example",))
SERVICE_CERT = Credentials(peer_names=("other", "scheduler.tradewind"))
UNLISTED_CERT = Credentials(peer_names=("stranger.example",))

ALLOW, UNAUTHENTICATED, DENIED = (
    AuthDecision.ALLOW,
    AuthDecision.UNAUTHENTICATED,
    AuthDecision.PERMISSION_DENIED,
)


@pytest.mark.parametrize(
    ("method", "credentials", "decision"),
    [
        (PUBLIC, NOTHING, UNAUTHENTICATED),
        (PUBLIC, WRONG, UNAUTHENTICATED),
        (PUBLIC, CLIENT, ALLOW),
        (PUBLIC, SERVICE, ALLOW),
        (PUBLIC, LEASE, DENIED),
        (PUBLIC, CLIENT_CERT, ALLOW),
        (PUBLIC, SERVICE_CERT, ALLOW),
        (PUBLIC, UNLISTED_CERT, DENIED),
        (INTERNAL, NOTHING, UNAUTHENTICATED),
        (INTERNAL, WRONG, UNAUTHENTICATED),
        (INTERNAL, CLIENT, DENIED),
        (INTERNAL, SERVICE, ALLOW),
        (INTERNAL, LEASE, DENIED),
        (INTERNAL, CLIENT_CERT, DENIED),
        (INTERNAL, SERVICE_CERT, ALLOW),
        (TASK, NOTHING, UNAUTHENTICATED),
        (TASK, CLIENT, DENIED),
        (TASK, SERVICE, ALLOW),
        (TASK, LEASE, ALLOW),
        (HEALTH, NOTHING, ALLOW),
        (REFLECTION, NOTHING, ALLOW),
    ],
)
def test_authorize(method: str, credentials: Credentials, decision: AuthDecision) -> None:
    assert authorize(method, credentials, CONFIG) is decision


def test_a_wrong_token_is_refused_even_beside_a_listed_certificate() -> None:
    credentials = Credentials(token="wrong", peer_names=("scheduler.tradewind",))
    assert authorize(INTERNAL, credentials, CONFIG) is UNAUTHENTICATED


def test_a_lease_does_not_lend_a_certificate_its_role() -> None:
    credentials = Credentials(lease_id="x", peer_names=("scheduler.tradewind",))
    assert authorize(INTERNAL, credentials, CONFIG) is DENIED


def test_everything_is_allowed_without_tokens_or_identities() -> None:
    assert authorize(INTERNAL, NOTHING, AuthConfig()) is ALLOW
    assert authorize(INTERNAL, UNLISTED_CERT, AuthConfig()) is ALLOW


def test_identities_alone_switch_authentication_on() -> None:
    config = AuthConfig(service_identities=frozenset({"s"}))
    assert config.enabled
    assert config.uses_identities
    assert authorize(PUBLIC, NOTHING, config) is UNAUTHENTICATED


def test_bearer_token_is_read_case_insensitively() -> None:
    assert bearer_token([("Authorization", "Bearer abc ")]) == "abc"
    assert bearer_token([("authorization", "bearer abc")]) == "abc"
    assert bearer_token([("authorization", "Basic abc")]) is None
    assert bearer_token([("x-other", "Bearer abc")]) is None


def test_a_lease_travels_in_its_own_scheme() -> None:
    header = lease_header("f00d")
    assert lease_credential([header]) == "f00d"
    assert bearer_token([header]) is None
    assert lease_credential([("authorization", "Bearer f00d")]) is None
    assert lease_credential([("authorization", "Lease ")]) is None


def test_peer_names_come_from_the_verified_certificate() -> None:
    context = {
        "x509_common_name": [b"executor-1"],
        "x509_subject_alternative_name": [b"executor.tradewind", b"localhost"],
        "transport_security_type": [b"ssl"],
    }
    assert peer_names(context) == ("executor-1", "executor.tradewind", "localhost")
    assert credentials_of([("authorization", "Bearer t")], context).token == "t"
    assert peer_names({}) == ()
