"""The NetworkPolicies of deploy/k8s/base, evaluated as Kubernetes does (for the parts they
use: pod and namespace selectors, numbered and named ports, policy types): the state service
is reachable only from its four clients, metrics from anywhere in the cluster, PostgreSQL only
from the state service and the migration, the open internet only from executors and
triggerers, and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.deploy.deployfiles import MIGRATE, SERVICE_PORTS, by_kind, manifests, pod_spec

NAMESPACE = "tradewind"
CLIENTS = [name for name in SERVICE_PORTS if name != "state"]
DATABASE_PORT = 5432


@dataclass(frozen=True)
class Pod:
    """A pod: its namespace, labels and named container ports (None: outside the cluster)."""

    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects ``labels``."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def peer_matches(peer: Mapping[str, Any], pod: Pod) -> bool:
    """Whether a ``from``/``to`` peer of a policy in NAMESPACE selects ``pod``."""
    assert "ipBlock" not in peer, "this evaluator knows no ipBlock"
    if pod.namespace is None:
        return False
    if "namespaceSelector" in peer:
        # No namespace labels here but kubernetes.io/metadata.name; {} selects them all.
        namespace_labels = {"kubernetes.io/metadata.name": pod.namespace}
        if not matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif pod.namespace != NAMESPACE:
        return False
    return "podSelector" not in peer or matches(peer["podSelector"], pod.labels)


def port_matches(rule: Mapping[str, Any], destination: Pod, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            if destination.ports.get(wanted) == port:
                return True
        elif wanted <= port <= entry.get("endPort", wanted):
            return True
    return False


def policies() -> list[dict[str, Any]]:
    return list(by_kind(manifests(), "NetworkPolicy").values())


def selecting(pod: Pod, kind: str) -> list[dict[str, Any]]:
    """The policies that select ``pod`` (in NAMESPACE) for ``kind`` (Ingress or Egress)."""
    if pod.namespace != NAMESPACE:
        return []
    return [
        policy
        for policy in policies()
        if matches(policy["spec"]["podSelector"], pod.labels)
        and kind in policy["spec"].get("policyTypes", ["Ingress"])
    ]


def allowed(source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
    """Whether a connection from ``source`` to ``destination``'s ``port`` passes both the
    source's egress policies and the destination's ingress policies."""
    egress = selecting(source, "Egress")
    if egress and not any(
        ("to" not in rule or any(peer_matches(peer, destination) for peer in rule["to"]))
        and port_matches(rule, destination, port, protocol)
        for policy in egress
        for rule in policy["spec"].get("egress") or []
    ):
        return False
    ingress = selecting(destination, "Ingress")
    return not ingress or any(
        ("from" not in rule or any(peer_matches(peer, source) for peer in rule["from"]))
        and port_matches(rule, destination, port, protocol)
        for policy in ingress
        for rule in policy["spec"].get("ingress") or []
    )


def workload_pods() -> dict[str, Pod]:
    """Every Tradewind workload's pod, by component."""
    pods = {}
    for doc in manifests():
        spec = pod_spec(doc)
        if spec is None:
            continue
        labels = doc["spec"]["template"]["metadata"]["labels"]
        (container,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        pods[labels["app.kubernetes.io/component"]] = Pod(NAMESPACE, labels, ports)
    return pods


#: A database, a DNS server, a web API: outside the namespace's pods.
OUTSIDE = Pod(None)
#: Other pods: one of the namespace (someone's debug pod), one elsewhere with Tradewind's labels.
STRANGER = Pod(NAMESPACE, {"app": "debug"})
ELSEWHERE = Pod(
    "other",
    {"app.kubernetes.io/name": "tradewind", "app.kubernetes.io/component": "scheduler"},
)
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})


@pytest.fixture
def pods() -> dict[str, Pod]:
    found = workload_pods()
    assert set(found) == {*SERVICE_PORTS, MIGRATE}
    return found


def test_every_pod_of_the_namespace_is_denied_by_default() -> None:
    default = by_kind(manifests(), "NetworkPolicy")["default-deny"]["spec"]
    assert default == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert not allowed(STRANGER, STRANGER, 8080)
    assert not allowed(STRANGER, OUTSIDE, 443)


def test_the_state_port_is_reachable_from_its_four_clients_only(pods: dict[str, Pod]) -> None:
    state_port = SERVICE_PORTS["state"][0]
    for name in CLIENTS:
        assert allowed(pods[name], pods["state"], state_port), name
    for source in (pods[MIGRATE], pods["state"], STRANGER, ELSEWHERE, PROMETHEUS):
        assert not allowed(source, pods["state"], state_port), source
    for name in CLIENTS:
        assert not allowed(pods[name], pods["state"], SERVICE_PORTS["state"][1] + 1), name


def test_the_other_grpc_ports_take_no_connection(pods: dict[str, Pod]) -> None:
    """Only probes (the kubelet, outside NetworkPolicy on most plugins) use them."""
    for name in CLIENTS:
        grpc_port = SERVICE_PORTS[name][0]
        for source in [*(pods[n] for n in pods), STRANGER, ELSEWHERE, PROMETHEUS]:
            assert not allowed(source, pods[name], grpc_port), (source, name)


def test_metrics_are_reachable_from_any_pod_of_the_cluster(pods: dict[str, Pod]) -> None:
    for name, (grpc_port, metrics_port) in SERVICE_PORTS.items():
        assert pods[name].ports["metrics"] == metrics_port
        for source in (PROMETHEUS, ELSEWHERE):
            assert allowed(source, pods[name], metrics_port), (source, name)
        assert not allowed(PROMETHEUS, pods[name], grpc_port), name
        # A pod of the namespace itself is under default-deny, for its egress too.
        assert not allowed(STRANGER, pods[name], metrics_port), name


def test_only_the_state_service_and_the_migration_reach_the_database(
    pods: dict[str, Pod],
) -> None:
    for name, pod in pods.items():
        reaches = allowed(pod, OUTSIDE, DATABASE_PORT)
        if name in ("state", MIGRATE):
            assert reaches, name
            assert not allowed(pod, OUTSIDE, 443), f"{name} reaches more than the database"
            assert not allowed(pod, OUTSIDE, 80), f"{name} reaches more than the database"
        elif name in ("executor", "triggerer"):
            assert reaches, "general egress for task code includes the port (no credentials)"
        else:
            assert not reaches, name


def test_dns_everywhere_general_egress_for_tasks_and_triggers_only(pods: dict[str, Pod]) -> None:
    for name, pod in pods.items():
        assert allowed(pod, OUTSIDE, 53, "UDP"), name
        assert allowed(pod, OUTSIDE, 53, "TCP"), name
        open_egress = allowed(pod, OUTSIDE, 443)
        assert open_egress == (name in ("executor", "triggerer")), name
    for name in ("scheduler", "dag-processor"):
        for other in pods:
            if other != "state":
                grpc_port = SERVICE_PORTS.get(other, (50050,))[0]
                assert not allowed(pods[name], pods[other], grpc_port), (name, other)


def test_every_policy_selects_tradewind_pods_or_the_whole_namespace() -> None:
    names = set()
    for policy in policies():
        names.add(policy["metadata"]["name"])
        assert policy["metadata"]["namespace"] == NAMESPACE
        selector = policy["spec"]["podSelector"]
        if selector:
            assert selector["matchLabels"]["app.kubernetes.io/name"] == "tradewind"
    assert names == {
        "default-deny",
        "allow-dns",
        "state-ingress",
        "metrics-ingress",
        "database-egress",
        "state-clients-egress",
        "task-egress",
    }
