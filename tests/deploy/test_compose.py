"""The compose file (deploy/compose.yaml) and its Prometheus configuration: the services,
replicas, healthchecks, start order, drain times, DAG folder, and who gets the credentials;
and that it says the same as the Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.deploy.deployfiles import (
    API_TOKENS,
    CHILD_PROCESS_RUNNERS,
    COMPOSE_FILE,
    DAG_READERS,
    DATABASE_URL,
    HEALTHCHECK,
    MIGRATE,
    PROMETHEUS_FILE,
    REPLICAS,
    SECRET_KEY,
    SECRETS_MOUNT,
    SERVICE_PORTS,
    SERVICE_TOKENS,
    STATE_ADDRESS,
    STATE_TOKEN,
    MissingVariable,
    compose_env_files,
    compose_file,
    compose_secret_mounts,
    compose_variables,
    compose_workloads,
    drain_seconds,
    generated_compose_secrets,
    interpolate,
    is_tradewind_image,
    kubernetes_workloads,
    load_yaml,
    manifests,
    parse_duration,
)

HEALTHCHECK_IN_IMAGE = "/opt/tradewind/healthcheck.py"


@pytest.fixture
def compose() -> dict[str, object]:
    return compose_file(compose_variables())


def services(compose: dict[str, object]) -> dict[str, dict[str, object]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def test_the_services_and_their_replicas(compose: dict[str, object]) -> None:
    workloads = compose_workloads(compose)
    assert set(services(compose)) == {"postgres", "prometheus", MIGRATE, *SERVICE_PORTS}
    assert {name: w.component for name, w in workloads.items()} == {
        MIGRATE: MIGRATE,
        **{name: name for name in SERVICE_PORTS},
    }
    assert {name: w.replicas for name, w in workloads.items()} == {**REPLICAS, MIGRATE: 1}
    assert workloads[MIGRATE].args == ["db", "migrate"]
    postgres = services(compose)["postgres"]
    assert str(postgres["image"]).split(":")[1].startswith("15")


def test_every_service_has_an_image_a_command_and_a_healthcheck(
    compose: dict[str, object],
) -> None:
    for name, service in services(compose).items():
        assert service.get("image"), name
        if is_tradewind_image(str(service["image"])):
            assert service.get("command"), name
        if name == MIGRATE:
            assert service["restart"] == "no", "the migration runs once"
            assert "healthcheck" not in service
            continue
        healthcheck = service["healthcheck"]
        assert isinstance(healthcheck, dict), name
        assert not healthcheck.get("disable"), name
        assert healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "start_period"):
            parse_duration(healthcheck[key])


def test_tradewind_services_check_the_grpc_health_service(compose: dict[str, object]) -> None:
    for name in SERVICE_PORTS:
        healthcheck = services(compose)[name]["healthcheck"]
        assert isinstance(healthcheck, dict)
        assert healthcheck["test"] == ["CMD", "python", HEALTHCHECK_IN_IMAGE], name
    assert HEALTHCHECK.is_file()
    postgres = services(compose)["postgres"]["healthcheck"]
    assert isinstance(postgres, dict)
    assert "pg_isready" in postgres["test"]


def test_start_order_waits_for_health_and_for_the_migration(compose: dict[str, object]) -> None:
    def conditions(name: str) -> dict[str, str]:
        depends = services(compose)[name].get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        return {dep: spec["condition"] for dep, spec in depends.items()}

    assert conditions(MIGRATE) == {"postgres": "service_healthy"}
    assert conditions("state") == {
        "postgres": "service_healthy",
        MIGRATE: "service_completed_successfully",
    }
    for name in set(SERVICE_PORTS) - {"state"}:
        assert conditions(name) == {"state": "service_healthy"}, name


#: What each Tradewind service reads from a secret (as in Kubernetes).
SECRET_SETTINGS = {
    "state": {DATABASE_URL, SECRET_KEY, API_TOKENS, SERVICE_TOKENS},
    MIGRATE: {DATABASE_URL},
    **{name: {STATE_TOKEN} for name in SERVICE_PORTS if name != "state"},
}
#: The files deploy/generate_secrets.py writes for compose.
COMPOSE_SECRET_FILES = {
    "postgres-password",
    "database-url",
    "secret-key",
    "api-token",
    "service-token",
    "state-token.env",
}


def test_every_secret_is_a_generated_file_and_none_has_a_default(
    compose: dict[str, object],
) -> None:
    raw = load_yaml(COMPOSE_FILE)
    top = raw["secrets"]
    assert top == {
        name: {"file": f"./secrets/{name}"} for name in COMPOSE_SECRET_FILES - {"state-token.env"}
    }
    generated = generated_compose_secrets()
    assert {p.name for p in generated.iterdir()} - {".gitignore"} == COMPOSE_SECRET_FILES
    assert "${" not in repr(raw).replace("${TRADEWIND_IMAGE", "").replace(
        "${TRADEWIND_DAGS_DIR", ""
    ), "no secret comes from a variable (with a default or not)"
    for name, service in raw["services"].items():
        for path, source in compose_secret_mounts(service).items():
            assert source in top, f"{name} mounts the undefined secret {source}"
            if is_tradewind_image(str(service.get("image", ""))):
                assert path.startswith(f"{SECRETS_MOUNT}/"), (name, path)
        for entry in compose_env_files(service):
            assert entry == "./secrets/state-token.env", (name, entry)


def test_each_service_gets_exactly_its_secrets(compose: dict[str, object]) -> None:
    raw = load_yaml(COMPOSE_FILE)
    for name, workload in compose_workloads(compose).items():
        expected = SECRET_SETTINGS[workload.component]
        assert workload.secret_settings() == expected, name
        read = {v for k, v in workload.env.items() if k.endswith("_FILE")}
        assert set(workload.secret_files) == read, f"{name} mounts secrets it does not read"
        if workload.component in CHILD_PROCESS_RUNNERS:
            assert workload.secret_files == {}, f"{name}: task code could read a mounted file"
            assert workload.secret_env == {STATE_TOKEN}, name
        else:
            assert workload.secret_env == set(), name
    postgres = raw["services"]["postgres"]
    assert compose_secret_mounts(postgres) == {
        "/run/secrets/postgres-password": "postgres-password"
    }
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres-password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    for name, service in raw["services"].items():
        if name not in ("state", MIGRATE, "postgres"):
            assert "database-url" not in repr(service), f"{name} knows the database address"
            assert "postgres:5432" not in repr(service), f"{name} knows the database address"


def test_the_generated_values_fit_together(compose: dict[str, object]) -> None:
    workloads = compose_workloads(compose)
    state = workloads["state"]
    password = (generated_compose_secrets() / "postgres-password").read_text()
    url = state.setting(DATABASE_URL)
    assert url == f"postgresql://tradewind:{password}@postgres:5432/tradewind"
    assert workloads[MIGRATE].setting(DATABASE_URL) == url
    key = state.setting(SECRET_KEY)
    assert key is not None
    Fernet(key.encode())
    service_token = state.setting(SERVICE_TOKENS)
    assert service_token
    assert service_token != state.setting(API_TOKENS)
    for name in SERVICE_PORTS:
        if name != "state":
            assert workloads[name].setting(STATE_TOKEN) == service_token, name


def test_the_secrets_are_required(compose: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        compose_workloads(compose, tmp_path / "secrets")


def test_ports_addresses_and_drain_times_match_the_services(compose: dict[str, object]) -> None:
    workloads = compose_workloads(compose)
    for name, (grpc_port, metrics_port) in SERVICE_PORTS.items():
        env = workloads[name].env
        assert env["TRADEWIND_PORT"] == str(grpc_port), name
        assert env["TRADEWIND_METRICS_PORT"] == str(metrics_port), name
        assert env["TRADEWIND_HOST"] == "0.0.0.0", name
        if name != "state":
            assert env["TRADEWIND_STATE_ADDRESS"] == STATE_ADDRESS, name
        drain = drain_seconds(name, env)
        grace = workloads[name].stop_grace
        assert grace is not None, name
        assert grace >= drain, f"{name} is killed mid-drain"
        assert "ports" not in services(compose)[name], "replicas cannot share a host port"


def test_executors_the_dag_processor_and_triggerers_mount_the_dag_folder(
    compose: dict[str, object],
) -> None:
    workloads = compose_workloads(compose)
    custom = compose_file({**compose_variables(), "TRADEWIND_DAGS_DIR": "/srv/dags"})
    for name in DAG_READERS:
        folder = workloads[name].env["TRADEWIND_DAGS_FOLDER"]
        assert folder == "/dags", name
        volumes = services(compose)[name]["volumes"]
        assert isinstance(volumes, list)
        assert f"../examples/dags:{folder}:ro" in volumes, volumes
        assert "/srv/dags:/dags:ro" in custom["services"][name]["volumes"], name
    for name in {"state", "scheduler", MIGRATE} | (set(SERVICE_PORTS) - set(DAG_READERS)):
        assert "volumes" not in services(compose)[name], name


def test_prometheus_scrapes_every_replica_of_every_service(compose: dict[str, object]) -> None:
    prometheus = services(compose)["prometheus"]
    volumes = prometheus["volumes"]
    assert isinstance(volumes, list)
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    config = load_yaml(PROMETHEUS_FILE)
    scraped = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            assert sd["type"] == "A", "one record per replica"
            for host in sd["names"]:
                scraped[host] = sd["port"]
    workloads = compose_workloads(compose)
    assert scraped == {
        name: int(workloads[name].env["TRADEWIND_METRICS_PORT"]) for name in SERVICE_PORTS
    }


def test_compose_runs_the_same_commands_and_settings_as_kubernetes(
    compose: dict[str, object],
) -> None:
    by_component = {w.component: w for w in kubernetes_workloads(manifests()).values()}
    for workload in compose_workloads(compose).values():
        twin = by_component[workload.component]
        assert workload.args == twin.args, workload.name
        assert workload.replicas == twin.replicas, workload.name
        assert workload.stop_grace == twin.stop_grace, workload.name
        # The same settings and the same secret files at the same paths; only the generated
        # values differ (each target has its own).
        ours = {k: v for k, v in workload.env.items() if k not in workload.secret_env}
        theirs = {k: v for k, v in twin.env.items() if k not in twin.secret_env}
        assert ours == theirs, workload.name
        assert workload.secret_env == twin.secret_env, workload.name
        assert set(workload.secret_files) == set(twin.secret_files), workload.name


def test_interpolation_follows_compose_rules() -> None:
    variables = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$$SET-$SET", variables) == (
        "x-d-e--$SET-x"
    )
    assert interpolate(["${UNSET}"], variables) == [""]
    with pytest.raises(MissingVariable, match="EMPTY: give it"):
        interpolate({"k": "${EMPTY:?give it}"}, variables)
    assert interpolate("${EMPTY?no}", variables) == ""
