"""The Kubernetes manifests (deploy/k8s/base): valid against the Kubernetes schemas offline,
rendered by kustomize, and shaped as the services need them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.deploy.deployfiles import (
    DAG_READERS,
    DATABASE_SECRET,
    DATABASE_URL,
    DEPLOY,
    K8S_BASE,
    K8S_IMAGE,
    MIGRATE,
    REPLICAS,
    SECRET_KEY,
    SERVICE_PORTS,
    STATE_ADDRESS,
    accepted_variables,
    by_kind,
    component_of,
    containers,
    drain_seconds,
    fresh_manifests,
    kubernetes_validate,
    kubernetes_workloads,
    kustomization,
    load_documents,
    load_kustomization,
    manifests,
    pod_spec,
    render_kustomization,
)

#: The oldest Kubernetes these manifests are for (gRPC probes are GA since 1.27), and the newest
#: that kubernetes-validate knows.
OLDEST_KUBERNETES = "1.27.0"
NAMESPACE = "tradewind"


def validate(doc: dict[str, Any], version: str) -> None:
    kv = kubernetes_validate()
    try:
        kv.validate(doc, version, strict=True)
    except kv.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        pytest.fail(
            f"{doc['kind']}/{doc['metadata']['name']} is not valid Kubernetes {version}:"
            f" {path}: {err.message}"
        )


def versions() -> list[str]:
    return [OLDEST_KUBERNETES, str(kubernetes_validate().latest_version())]


def test_every_manifest_is_valid_against_the_kubernetes_schemas() -> None:
    docs = manifests()
    assert docs
    for version in versions():
        for doc in docs:
            validate(doc, version)


def test_the_strict_schema_check_rejects_a_misspelled_field() -> None:
    docs = fresh_manifests()
    state = by_kind(docs, "Deployment")["state"]
    state["spec"]["template"]["spec"]["terminationGracePeriod"] = 20
    kv = kubernetes_validate()
    with pytest.raises(kv.ValidationError, match="terminationGracePeriod"):
        kv.validate(state, versions()[-1], strict=True)


def test_every_listed_resource_exists_and_parses() -> None:
    listed = kustomization()["resources"]
    for entry in listed:
        assert (K8S_BASE / entry).is_file(), entry
        assert load_documents(K8S_BASE / entry), f"{entry} is empty"
    on_disk = {p.name for p in K8S_BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(listed), "every manifest file is listed in kustomization.yaml"
    assert {d["kind"] for d in load_kustomization()} >= {"Namespace", "Deployment", "Job"}


def test_kustomize_renders_what_the_fallback_loader_loads() -> None:
    ours = load_kustomization()
    rendered = render_kustomization()
    if rendered is None:
        pytest.skip("neither kubectl nor kustomize is installed: rendered with the fallback")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(rendered, key=key) == sorted(ours, key=key)


def test_everything_lives_in_the_tradewind_namespace() -> None:
    docs = manifests()
    (namespace,) = by_kind(docs, "Namespace").values()
    assert namespace["metadata"]["name"] == NAMESPACE
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def test_a_deployment_per_service_with_its_replicas_and_the_migration_job() -> None:
    workloads = kubernetes_workloads(manifests())
    assert {w.component: w.replicas for w in workloads.values()} == {**REPLICAS, MIGRATE: 1}
    deployments = by_kind(manifests(), "Deployment")
    assert set(deployments) == set(SERVICE_PORTS)
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] == REPLICAS[name]
        assert workloads[name].args == [name]
    (job,) = by_kind(manifests(), "Job").values()
    assert workloads[job["metadata"]["name"]].args == ["db", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    for doc in [*deployments.values(), job]:
        for container in containers(doc):
            assert container["image"].split(":")[0] == K8S_IMAGE
            assert ":" in container["image"], "kustomize pins the tag"


def test_only_the_state_deployment_and_the_migration_job_reference_the_database_secret() -> None:
    secrets = by_kind(manifests(), "Secret")
    assert set(secrets[DATABASE_SECRET]["stringData"]) == {"database-url", "secret-key"}
    referencing = set()
    for doc in manifests():
        if doc["kind"] != "Secret" and DATABASE_SECRET in json.dumps(doc):
            referencing.add((doc["kind"], doc["metadata"]["name"]))
    assert referencing == {("Deployment", "state"), ("Job", "tradewind-migrate")}
    workloads = kubernetes_workloads(manifests())
    for workload in workloads.values():
        expected = {
            "state": {DATABASE_URL, SECRET_KEY},
            MIGRATE: {DATABASE_URL},
        }.get(workload.component, set())
        assert workload.secret_env == expected, workload.name
        assert {DATABASE_URL, SECRET_KEY} & set(workload.env) == expected, workload.name


def test_the_placeholder_secret_key_is_refused_so_it_cannot_stay_by_mistake() -> None:
    key = by_kind(manifests(), "Secret")[DATABASE_SECRET]["stringData"]["secret-key"]
    with pytest.raises(ValueError, match="Fernet key"):
        Fernet(key.encode())


def test_every_variable_is_one_the_command_reads() -> None:
    for doc in manifests():
        spec = pod_spec(doc)
        if spec is None:
            continue
        (container,) = spec["containers"]
        names = {item["name"] for item in container.get("env", [])}
        unknown = names - accepted_variables(component_of(container["args"]))
        assert not unknown, f"{doc['metadata']['name']} sets variables it ignores: {unknown}"


def test_ports_probes_and_grace_match_the_services_settings() -> None:
    workloads = kubernetes_workloads(manifests())
    for name, deployment in by_kind(manifests(), "Deployment").items():
        grpc_port, metrics_port = SERVICE_PORTS[name]
        env = workloads[name].env
        assert env["TRADEWIND_PORT"] == str(grpc_port)
        assert env["TRADEWIND_METRICS_PORT"] == str(metrics_port)
        assert env["TRADEWIND_HOST"] == "0.0.0.0"
        if name != "state":
            assert env["TRADEWIND_STATE_ADDRESS"] == STATE_ADDRESS
        spec = pod_spec(deployment)
        assert spec is not None
        (container,) = spec["containers"]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
            "grpc": grpc_port,
            "metrics": metrics_port,
        }
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": grpc_port}, (name, probe)
        liveness = container["livenessProbe"]
        assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60, (
            "a database outage must not restart every replica at once"
        )
        assert spec["terminationGracePeriodSeconds"] >= drain_seconds(name, env), name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(metrics_port),
            "prometheus.io/path": "/metrics",
        }


def test_services_headless_for_state_and_named_ports_for_every_service() -> None:
    services = by_kind(manifests(), "Service")
    deployments = by_kind(manifests(), "Deployment")
    assert set(services) == set(SERVICE_PORTS)
    for name, service in services.items():
        grpc_port, metrics_port = SERVICE_PORTS[name]
        spec = service["spec"]
        if name == "state":
            assert spec["clusterIP"] == "None", "dns:///state:50051 must resolve every replica"
        else:
            assert spec.get("type", "ClusterIP") == "ClusterIP"
            assert spec.get("clusterIP") != "None"
        assert [(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]] == [
            ("grpc", grpc_port, "grpc"),
            ("metrics", metrics_port, "metrics"),
        ]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert spec["selector"].items() <= labels.items()


def test_pod_disruption_budgets_cover_every_service_and_never_block_a_drain() -> None:
    budgets = by_kind(manifests(), "PodDisruptionBudget")
    deployments = by_kind(manifests(), "Deployment")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert deployments[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        if "minAvailable" in budget["spec"]:
            assert budget["spec"]["minAvailable"] < REPLICAS[name], f"{name} could never drain"
        else:
            assert budget["spec"]["maxUnavailable"] >= 1


def test_every_pod_runs_as_non_root_with_resources_and_no_api_token() -> None:
    for doc in manifests():
        spec = pod_spec(doc)
        if spec is None:
            continue
        name = doc["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in containers(doc):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, name
            assert set(resources["limits"]) == {"cpu", "memory"}, name
            if context.get("readOnlyRootFilesystem"):
                mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
                assert {"/tmp", "/var/lib/tradewind"} <= mounts, f"{name} needs writable dirs"


def test_executors_dag_processors_and_triggerers_read_the_dag_folder_from_the_volume() -> None:
    claims = by_kind(manifests(), "PersistentVolumeClaim")
    workloads = kubernetes_workloads(manifests())
    for name, deployment in by_kind(manifests(), "Deployment").items():
        spec = pod_spec(deployment)
        assert spec is not None
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        (container,) = spec["containers"]
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        if name in DAG_READERS:
            folder = workloads[name].env["TRADEWIND_DAGS_FOLDER"]
            assert folder == "/dags", name
            mount = mounts[folder]
            assert mount.get("readOnly") is True
            claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
            assert "ReadWriteMany" in claims[claim]["spec"]["accessModes"]
        else:
            assert not any("persistentVolumeClaim" in v for v in volumes.values()), name


def test_the_readme_overlay_renders_without_the_secret_and_with_its_image(
    tmp_path: Path,
) -> None:
    readme = (DEPLOY / "README.md").read_text()
    found = re.search(r"```yaml\n# my-tradewind/kustomization.yaml\n(.*?)```", readme, re.S)
    assert found, "deploy/README.md shows an overlay"
    overlay = tmp_path / "my-tradewind"
    overlay.mkdir()
    relative = os.path.relpath(K8S_BASE, overlay)
    text = found[1].replace("../tradewind/deploy/k8s/base", relative)
    assert relative in text
    (overlay / "kustomization.yaml").write_text(text)
    docs = render_kustomization(overlay)
    if docs is None:
        pytest.skip("neither kubectl nor kustomize is installed")
    assert "Secret" not in {d["kind"] for d in docs}
    deployments = by_kind(docs, "Deployment")
    assert deployments["executor"]["spec"]["replicas"] == 4
    for doc in docs:
        validate(doc, versions()[-1])
        for container in containers(doc):
            assert container["image"] == "registry.example.com/tradewind:0.1.0"
    referencing = {d["metadata"]["name"] for d in docs if DATABASE_SECRET in json.dumps(d)}
    assert referencing == {"state", "tradewind-migrate"}
