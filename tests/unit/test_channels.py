from __future__ import annotations

import json

import pytest

from protos.api.v1 import service_pb2 as api_service
from protos.event.v1 import service_pb2 as event_service
from protos.executor.v1 import service_pb2 as executor_service
from tradewind_common.channels import (
    channel_target,
    idempotent_methods,
    service_config,
    split_host_port,
)
from tradewind_common.config import ConfigError

API = api_service.DESCRIPTOR.services_by_name["ApiService"]
EXECUTOR = executor_service.DESCRIPTOR.services_by_name["ExecutorService"]
EVENTS = event_service.DESCRIPTOR.services_by_name["EventService"]


def test_single_address_uses_dns_resolution() -> None:
    assert channel_target(["state:50051"]) == "dns:///state:50051"
    assert channel_target(["dns:///state.svc:50051"]) == "dns:///state.svc:50051"
    assert channel_target(["unix:/tmp/state.sock"]) == "unix:/tmp/state.sock"


def test_several_addresses_become_one_round_robin_target() -> None:
    assert channel_target(["127.0.0.1:1", "localhost:2"]) == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert channel_target(["[::1]:5", "[::1]:6"]) == "ipv6:[::1]:5,[::1]:6"


@pytest.mark.parametrize("targets", [[], [" "], ["a:1", "b"], ["a:1", "b:99999"]])
def test_bad_targets_are_config_errors(targets: list[str]) -> None:
    with pytest.raises(ConfigError):
        channel_target(targets)


def test_split_host_port() -> None:
    assert split_host_port("[::1]:80") == ("::1", 80)
    assert split_host_port("example.org:443") == ("example.org", 443)


def test_only_idempotent_unary_rpcs_are_retried() -> None:
    names = {(n["service"], n["method"]) for n in idempotent_methods([API, EXECUTOR, EVENTS])}
    assert ("tradewind.api.v1.ApiService", "ListDags") in names
    assert ("tradewind.api.v1.ApiService", "TriggerDagRun") in names
    assert ("tradewind.executor.v1.ExecutorService", "CompleteTaskInstance") in names
    # Leasing hands out work: repeating it blindly could strand leased tries.
    assert ("tradewind.executor.v1.ExecutorService", "LeaseTaskInstances") not in names
    # Streams are resumed by their callers from a cursor, not retried by gRPC.
    assert ("tradewind.event.v1.EventService", "WatchEvents") not in names


def test_service_config_is_round_robin_with_a_retry_policy() -> None:
    config = json.loads(service_config([API]))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert policy["maxAttempts"] <= 5
