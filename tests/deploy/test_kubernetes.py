"""The Kubernetes manifests (deploy/k8s/base): valid against the Kubernetes schemas offline,
rendered by kustomize, and shaped as the services need them."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.deploy.deployfiles import (
    API_TOKENS,
    CHILD_PROCESS_RUNNERS,
    DAG_READERS,
    DATABASE_SECRET,
    DATABASE_URL,
    DEPLOY,
    FILE_SUFFIX,
    K8S_BASE,
    K8S_IMAGE,
    K8S_TLS,
    MIGRATE,
    REPLICAS,
    SECRET_KEY,
    SECRETS_MOUNT,
    SERVICE_PORTS,
    SERVICE_TOKENS,
    STATE_ADDRESS,
    STATE_TOKEN,
    TOKENS_SECRET,
    Workload,
    accepted_variables,
    by_kind,
    component_of,
    containers,
    copy_k8s,
    drain_seconds,
    fresh_manifests,
    generate_secrets,
    generated_k8s,
    kubernetes_validate,
    kubernetes_workloads,
    kustomization,
    load_documents,
    load_kustomization,
    manifests,
    pod_spec,
    render_kustomization,
    run_kustomize,
    secret_values,
    yaml_module,
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
    assert {"Secret", "NetworkPolicy"} <= {d["kind"] for d in load_kustomization()}
    assert {d["kind"] for d in load_kustomization()} >= {"Namespace", "Deployment", "Job"}


def test_kustomize_renders_what_the_fallback_loader_loads() -> None:
    ours = load_kustomization()
    rendered = render_kustomization()
    if rendered is None:
        pytest.skip("neither kubectl nor kustomize is installed: rendered with the fallback")
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(map(decoded, rendered), key=key) == sorted(map(decoded, ours), key=key)


def decoded(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a Secret's data decoded (kustomize wraps long base64 values)."""
    if doc["kind"] != "Secret":
        return doc
    values = secret_values([doc])[doc["metadata"]["name"]]
    return {**{k: v for k, v in doc.items() if k != "data"}, "data": values}


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


#: What each component reads from a secret: the state service the database address, the key
#: and both kinds of token (which turn authentication on); the migration the database
#: address; every other service the service token it sends to the state service.
SECRET_SETTINGS = {
    "state": {DATABASE_URL, SECRET_KEY, API_TOKENS, SERVICE_TOKENS},
    MIGRATE: {DATABASE_URL},
    **{name: {STATE_TOKEN} for name in SERVICE_PORTS if name != "state"},
}
CREDENTIALS_AND_TOKENS = (DATABASE_URL, SECRET_KEY, API_TOKENS, SERVICE_TOKENS, STATE_TOKEN)


def test_the_secrets_are_generated_from_files_never_committed() -> None:
    yaml = yaml_module()
    committed = [
        doc
        for folder in (K8S_BASE, K8S_TLS)
        for path in sorted(folder.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]
    kinds = {doc.get("kind") for doc in committed if isinstance(doc, dict)}
    assert "Secret" not in kinds, "a Secret with values is committed"
    generators = {g["name"]: g for g in kustomization()["secretGenerator"]}
    assert set(generators) == {DATABASE_SECRET, TOKENS_SECRET}
    files = {
        name: dict(str(item).split("=", 1) for item in generator["files"])
        for name, generator in generators.items()
    }
    assert files == {
        DATABASE_SECRET: {
            "database-url": "secrets/database-url",
            "secret-key": "secrets/secret-key",
        },
        TOKENS_SECRET: {"api-token": "secrets/api-token", "service-token": "secrets/service-token"},
    }
    assert kustomization()["generatorOptions"]["disableNameSuffixHash"] is True
    generated = generated_k8s() / "base"
    rendered = secret_values(manifests())
    for name, keys in files.items():
        assert rendered[name] == {
            key: (generated / file).read_text() for key, file in keys.items()
        }, name


def test_kustomize_refuses_to_build_until_the_secrets_are_generated(tmp_path: Path) -> None:
    copied = copy_k8s(tmp_path)
    assert not (copied / "base" / "secrets").exists()
    result = run_kustomize(copied / "base")
    if result is None:
        pytest.skip("neither kubectl nor kustomize is installed")
    assert result.returncode != 0, "the base built without generated secrets"
    assert "secrets/database-url" in result.stderr, result.stderr
    generated = generate_secrets("k8s", k8s_dir=copied / "base" / "secrets")
    assert generated.returncode == 0, generated.stderr
    after = run_kustomize(copied / "base")
    assert after is not None
    assert after.returncode == 0, after.stderr


def test_each_workload_gets_exactly_its_secrets_from_the_generated_secrets() -> None:
    docs = manifests()
    referencing: dict[str, set[str]] = {DATABASE_SECRET: set(), TOKENS_SECRET: set()}
    for doc in docs:
        if doc["kind"] != "Secret":
            for secret in referencing:
                if secret in json.dumps(doc):
                    referencing[secret].add(doc["metadata"]["name"])
    assert referencing == {
        DATABASE_SECRET: {"state", "tradewind-migrate"},
        TOKENS_SECRET: set(SERVICE_PORTS),
    }
    workloads = kubernetes_workloads(docs)
    for workload in workloads.values():
        expected = SECRET_SETTINGS[workload.component]
        assert workload.secret_settings() == expected, workload.name
        names = {n.removesuffix(FILE_SUFFIX) for n in workload.env}
        assert names & {*CREDENTIALS_AND_TOKENS} == expected, workload.name
        for path in workload.secret_files:
            assert path.startswith(f"{SECRETS_MOUNT}/"), (workload.name, path)
        # Only the files the workload reads are mounted.
        read = {workload.env[n] for n in workload.env if n.endswith(FILE_SUFFIX)}
        assert set(workload.secret_files) == read, workload.name


def by_component(workloads: dict[str, Workload]) -> dict[str, Workload]:
    return {w.component: w for w in workloads.values()}


def test_the_state_service_accepts_the_token_its_clients_send_and_the_values_are_real() -> None:
    workloads = by_component(kubernetes_workloads(manifests()))
    state = workloads["state"]
    service_token = state.setting(SERVICE_TOKENS)
    api_token = state.setting(API_TOKENS)
    assert service_token
    assert api_token
    assert service_token != api_token
    for token in (service_token, api_token):
        assert len(token) >= 32
        assert "," not in token
    for name in SERVICE_PORTS:
        if name != "state":
            assert workloads[name].setting(STATE_TOKEN) == service_token, name
    key = state.setting(SECRET_KEY)
    assert key is not None
    Fernet(key.encode())  # a real key, not a placeholder
    url = state.setting(DATABASE_URL)
    assert url is not None
    assert url.startswith("postgresql://tradewind:")
    assert "@postgres:5432/" in url
    assert workloads[MIGRATE].setting(DATABASE_URL) == url


def is_secret_variable(name: str) -> bool:
    """The services' rule for the variables that processes running user code never inherit."""
    for module in ("tradewind_common.secret_files", "services.runtime.forking"):
        with contextlib.suppress(ImportError):
            rule = getattr(importlib.import_module(module), "is_secret_variable", None)
            if rule is not None:
                return bool(rule(name))
    pytest.fail("no is_secret_variable in tradewind_common.secret_files or services.runtime")


def test_services_that_run_user_code_in_child_processes_get_the_token_as_a_variable() -> None:
    """A mounted file would be readable by task code and DAG parses (same OS user); a
    variable is removed from their environment, and the service is non-dumpable."""
    for workload in kubernetes_workloads(manifests()).values():
        if workload.component in CHILD_PROCESS_RUNNERS:
            assert workload.secret_files == {}, workload.name
            assert workload.secret_env == {STATE_TOKEN}, workload.name
        else:
            assert workload.secret_env == set(), f"{workload.name}: secrets as files only"
        for name in workload.secret_env:
            assert is_secret_variable(name), f"{name} would reach task processes"


def test_secret_volumes_are_read_only_and_readable_by_the_pod_group_only() -> None:
    for doc in manifests():
        spec = pod_spec(doc)
        if spec is None:
            continue
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        (container,) = spec["containers"]
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            secret = volume.get("secret") or volume.get("projected")
            if secret is None:
                continue
            assert mount.get("readOnly") is True, (doc["metadata"]["name"], mount)
            assert secret["defaultMode"] == 0o440, (doc["metadata"]["name"], mount)
            assert spec["securityContext"]["fsGroup"] == 10001


def test_every_variable_is_one_the_command_reads() -> None:
    for doc in manifests():
        spec = pod_spec(doc)
        if spec is None:
            continue
        (container,) = spec["containers"]
        names = {item["name"].removesuffix(FILE_SUFFIX) for item in container.get("env", [])}
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


def readme_overlay(tmp_path: Path, title: str) -> list[dict[str, Any]]:
    """Render the overlay that deploy/README.md shows under ``# my-tradewind/<title>``,
    pointed at the base with generated secrets."""
    readme = (DEPLOY / "README.md").read_text()
    found = re.search(rf"```yaml\n# my-tradewind/{re.escape(title)}\n(.*?)```", readme, re.S)
    assert found, f"deploy/README.md shows the overlay {title}"
    overlay = tmp_path / "my-tradewind"
    overlay.mkdir()
    relative = os.path.relpath(generated_k8s() / "base", overlay)
    text = found[1].replace("../tradewind/deploy/k8s/base", relative)
    assert relative in text
    (overlay / "kustomization.yaml").write_text(text)
    docs = render_kustomization(overlay)
    if docs is None:
        pytest.skip("neither kubectl nor kustomize is installed")
    for doc in docs:
        validate(doc, versions()[-1])
    return docs


def test_the_readme_overlay_renders_with_its_image_and_replicas(tmp_path: Path) -> None:
    docs = readme_overlay(tmp_path, "kustomization.yaml")
    assert set(by_kind(docs, "Secret")) == {DATABASE_SECRET, TOKENS_SECRET}
    deployments = by_kind(docs, "Deployment")
    assert deployments["executor"]["spec"]["replicas"] == 4
    for doc in docs:
        for container in containers(doc):
            assert container["image"] == "registry.example.com/tradewind:0.1.0"
    assert {d["kind"] for d in docs} >= {"NetworkPolicy", "Job", "Namespace"}


def test_the_readme_overlay_for_secrets_managed_elsewhere_drops_the_generated_ones(
    tmp_path: Path,
) -> None:
    docs = readme_overlay(tmp_path, "kustomization.yaml (Secrets managed elsewhere)")
    assert "Secret" not in {d["kind"] for d in docs}
    referencing = {d["metadata"]["name"] for d in docs if DATABASE_SECRET in json.dumps(d)}
    assert referencing == {"state", "tradewind-migrate"}
    referencing = {d["metadata"]["name"] for d in docs if TOKENS_SECRET in json.dumps(d)}
    assert referencing == set(SERVICE_PORTS)


#: Where the TLS overlay mounts the Secret tradewind-tls, and the plaintext health port.
TLS_MOUNT = "/run/secrets/tradewind-tls"
TLS_SECRET = "tradewind-tls"
HEALTH_PORT = 8086


def tls_manifests() -> list[dict[str, Any]]:
    docs = render_kustomization(generated_k8s() / "tls")
    if docs is None:
        pytest.skip("neither kubectl nor kustomize is installed (the TLS overlay patches)")
    return docs


def test_the_tls_overlay_is_valid_and_changes_only_what_tls_needs() -> None:
    docs = tls_manifests()
    for version in versions():
        for doc in docs:
            validate(doc, version)

    def key(doc: dict[str, Any]) -> tuple[str, str]:
        return (doc["kind"], doc["metadata"]["name"])

    assert sorted(map(key, docs)) == sorted(map(key, manifests())), "same resources"
    base = {key(d): d for d in manifests()}
    for doc in docs:
        if doc["kind"] != "Deployment":
            assert doc == base[key(doc)], key(doc)


def test_the_tls_overlay_serves_tls_on_the_state_port_and_probes_on_the_health_port() -> None:
    docs = tls_manifests()
    workloads = by_component(kubernetes_workloads(docs))
    state = workloads["state"]
    assert state.env["TRADEWIND_TLS_CERT"] == f"{TLS_MOUNT}/tls.crt"
    assert state.env["TRADEWIND_TLS_KEY"] == f"{TLS_MOUNT}/tls.key"
    assert state.env["TRADEWIND_HEALTH_PORT"] == str(HEALTH_PORT)
    assert state.env["TRADEWIND_PORT"] == str(SERVICE_PORTS["state"][0]), "gRPC stays on 50051"
    deployments = by_kind(docs, "Deployment")
    for name, deployment in deployments.items():
        spec = pod_spec(deployment)
        assert spec is not None
        (container,) = spec["containers"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        probe_port = HEALTH_PORT if name == "state" else SERVICE_PORTS[name][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": probe_port}, (name, probe)
        mount = mounts[TLS_MOUNT]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == TLS_SECRET
        keys = {item["key"] for item in secret["items"]}
        if name == "state":
            assert keys == {"tls.crt", "tls.key"}
            assert {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"} in (
                container["ports"]
            )
        else:
            assert keys == {"ca.crt"}, f"{name} must not get the private key"
            assert workloads[name].env["TRADEWIND_STATE_TLS_CA"] == f"{TLS_MOUNT}/ca.crt"
            assert workloads[name].env["TRADEWIND_STATE_ADDRESS"] == STATE_ADDRESS
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        (container,) = spec["containers"]
        names = {item["name"].removesuffix(FILE_SUFFIX) for item in container.get("env", [])}
        assert names <= accepted_variables(component_of(container["args"])), doc["metadata"]
