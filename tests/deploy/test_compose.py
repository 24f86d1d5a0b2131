"""The compose file (deploy/compose.yaml) and its Prometheus configuration: the services,
replicas, healthchecks, start order, drain times, DAG folder, and who gets the credentials;
and that it says the same as the Kubernetes manifests."""

from __future__ import annotations

import pytest

from tests.deploy.deployfiles import (
    COMPOSE_FILE,
    CREDENTIALS,
    DAG_READERS,
    DATABASE_URL,
    HEALTHCHECK,
    MIGRATE,
    PROMETHEUS_FILE,
    REPLICAS,
    SECRET_KEY,
    SERVICE_PORTS,
    STATE_ADDRESS,
    MissingVariable,
    compose_file,
    compose_variables,
    compose_workloads,
    drain_seconds,
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


def test_only_the_state_service_and_the_migration_get_the_database_credentials(
    compose: dict[str, object],
) -> None:
    for name, service in services(compose).items():
        text = repr(service)
        present = {variable for variable in CREDENTIALS if variable in text}
        expected = {"state": {DATABASE_URL, SECRET_KEY}, MIGRATE: {DATABASE_URL}}.get(name, set())
        assert present == expected, name
    raw = load_yaml(COMPOSE_FILE)
    for name, service in raw["services"].items():
        if name not in ("state", MIGRATE, "postgres"):
            assert "postgres:5432" not in repr(service), f"{name} knows the database address"


def test_the_secret_key_must_be_given(compose: dict[str, object]) -> None:
    with pytest.raises(MissingVariable, match=SECRET_KEY):
        compose_file({})
    state = compose_workloads(compose)["state"]
    assert state.env[SECRET_KEY] == compose_variables()[SECRET_KEY]
    assert state.env[DATABASE_URL].startswith("postgresql://tradewind:tradewind@postgres:5432/")


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
        ours = {k: v for k, v in workload.env.items() if k not in CREDENTIALS}
        theirs = {k: v for k, v in twin.env.items() if k not in CREDENTIALS}
        assert ours == theirs, workload.name


def test_interpolation_follows_compose_rules() -> None:
    variables = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$$SET-$SET", variables) == (
        "x-d-e--$SET-x"
    )
    assert interpolate(["${UNSET}"], variables) == [""]
    with pytest.raises(MissingVariable, match="EMPTY: give it"):
        interpolate({"k": "${EMPTY:?give it}"}, variables)
    assert interpolate("${EMPTY?no}", variables) == ""
