"""Run the suite exactly as the compose file and the Kubernetes manifests describe it: the same
commands, replicas and TRADEWIND_* variables (the image's and the file's), as real processes
(``python -m tradewind.cli <args>``), with the secrets deploy/generate_secrets.py generates
(so authentication is on, as deployed). Only what one machine forces is changed: loopback
addresses and free ports instead of container addresses, the state replicas' addresses
instead of ``dns:///state:50051``, a fresh PostgreSQL database instead of the generated
database URL, each secret file at a scratch path instead of /run/secrets/tradewind/ (same
content), a copy of the example DAG folder (plus one DAG that defers on a trigger defined in
its own file) for /dags, and a scratch home. Then the migration has run, every replica serves
health and metrics (through the compose healthcheck command too), calls without the tokens are
refused, the example DAG is registered and a triggered run succeeds, a deferred task is resumed
by one of the triggerers, and SIGTERM stops every process, with exit status 0, within the stop
grace period the file gives it."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import request_response_pb2 as scheduler_rr
from tests.deploy.deployfiles import (
    API_TOKENS,
    DATABASE_URL,
    EXAMPLE_DAGS,
    FILE_SUFFIX,
    HEALTHCHECK,
    MIGRATE,
    REPLICAS,
    SECRETS_MOUNT,
    SERVICE_PORTS,
    SERVICE_TOKENS,
    STATE_ADDRESS,
    Workload,
    compose_file,
    compose_variables,
    compose_workloads,
    kubernetes_workloads,
    manifests,
)
from tests.helpers.databases import POSTGRES_ADMIN_URL, require_postgres
from tests.helpers.processes import (
    REPO_ROOT,
    ServiceProcess,
    child_environment,
    free_port,
    health_status,
)
from tests.helpers.state import state_client

HEALTHCHECK_IN_IMAGE = "/opt/tradewind/healthcheck.py"
#: What a container expects in the variables that the test makes local.
CONTAINER_VALUES = {
    "TRADEWIND_HOST": "0.0.0.0",
    "TRADEWIND_STATE_ADDRESS": STATE_ADDRESS,
    "TRADEWIND_DAGS_FOLDER": "/dags",
    "TRADEWIND_HOME": "/var/lib/tradewind",
}
#: The services started after the state service, and stopped before it.
CLIENT_SERVICES = [c for c in SERVICE_PORTS if c != "state"]
#: A DAG whose task defers on a trigger defined in the DAG file itself: only a triggerer that
#: reads the DAG folder can build it.
DEFERRAL_DAG_ID = "deploy_deferral"
DEFERRAL_DAG = f'''
import asyncio
from datetime import datetime

from tradewind import DAG, BaseOperator, BaseTrigger, TriggerEvent


class SoonTrigger(BaseTrigger):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def serialize(self):
        return (f"{{type(self).__module__}}.SoonTrigger", {{"seconds": self.seconds}})

    async def run(self):
        await asyncio.sleep(self.seconds)
        yield TriggerEvent({{"waited": self.seconds}})


class WaitSoon(BaseOperator):
    def execute(self, context):
        self.defer(trigger=SoonTrigger(0.5), method_name="resume")

    def resume(self, context, event=None):
        return event


with DAG("{DEFERRAL_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1)):
    WaitSoon(task_id="wait")
'''


@dataclass
class Replica:
    """One running replica of a workload of the deployment file."""

    workload: Workload
    process: ServiceProcess
    metrics_port: int
    env: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.workload.name}@{self.process.address}"


@dataclass
class Deployment:
    """The suite as started from one deployment file."""

    source: str
    replicas: list[Replica] = field(default_factory=list)
    #: The DAG folder every replica reads (the local /dags).
    dags_folder: Path = EXAMPLE_DAGS
    #: Each service's container healthcheck command (compose); None for gRPC probes.
    healthchecks: dict[str, list[str] | None] = field(default_factory=dict)
    migrate_output: str = ""
    #: The tokens the state service accepts, read from the generated secrets.
    api_token: str = ""
    service_token: str = ""

    def of(self, component: str) -> list[Replica]:
        return [r for r in self.replicas if r.workload.component == component]

    @property
    def state_addresses(self) -> list[str]:
        return [r.process.address for r in self.of("state")]

    def stop(self) -> None:
        for replica in sorted(self.replicas, key=lambda r: r.workload.component == "state"):
            replica.process.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {r.label} ---\n{r.process.output()[-4000:]}"
            for r in self.replicas
            if r.process.log_path is not None
        )


def localize(
    workload: Workload,
    *,
    port: int,
    metrics_port: int,
    state_addresses: list[str],
    database_url: str,
    home: str,
    dags_folder: Path,
    secrets_folder: Path,
) -> tuple[list[str], dict[str, str]]:
    """The workload's arguments and environment with container addresses made local.

    Each variable rewritten is first checked to hold what a container expects; every other
    variable and every argument passes through unchanged. A ``TRADEWIND_*_FILE`` variable that
    names a secret file of the container names a copy of it in ``secrets_folder`` instead
    (the database URL's copy names the test's database).
    """
    for name, value in CONTAINER_VALUES.items():
        if name in workload.env:
            assert workload.env[name] == value, f"{workload.name}: {name}={workload.env[name]}"
    assert not [a for a in workload.args if a.startswith("-")], (
        f"{workload.name}: the files configure services with variables, not flags"
    )
    local = {
        "TRADEWIND_HOST": "127.0.0.1",
        "TRADEWIND_PORT": str(port),
        "TRADEWIND_METRICS_PORT": str(metrics_port),
        "TRADEWIND_STATE_ADDRESS": ",".join(state_addresses),
        "TRADEWIND_DAGS_FOLDER": str(dags_folder),
        "TRADEWIND_HOME": home,
        DATABASE_URL: database_url,
    }
    secrets_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, value in workload.env.items():
        if name.endswith(FILE_SUFFIX) and value in workload.secret_files:
            assert value.startswith(f"{SECRETS_MOUNT}/"), f"{workload.name}: {name}={value}"
            setting = name.removesuffix(FILE_SUFFIX)
            content = database_url if setting == DATABASE_URL else workload.secret_files[value]
            copy = secrets_folder / Path(value).name
            copy.write_text(content)
            copy.chmod(0o600)
            local[name] = str(copy)
    env = {name: local.get(name, value) for name, value in workload.env.items()}
    return list(workload.args), env


def source_workloads(source: str) -> tuple[dict[str, Workload], dict[str, list[str] | None]]:
    """The Tradewind workloads of one deployment file, and each service's healthcheck."""
    if source == "compose":
        compose = compose_file(compose_variables())
        workloads = compose_workloads(compose)
        return workloads, {
            name: [str(word) for word in compose["services"][name]["healthcheck"]["test"]]
            for name, workload in workloads.items()
            if workload.component != MIGRATE
        }
    workloads = kubernetes_workloads(manifests())
    return workloads, {
        name: None for name, workload in workloads.items() if workload.component != MIGRATE
    }


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (the migration creates the schema); dropped after."""
    admin = create_engine(
        make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    name = f"tw_deploy_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start(source: str, database_url: str, deployment: Deployment) -> None:
    """Migrate, then start every replica of every service, state first, as the file says."""
    workloads, deployment.healthchecks = source_workloads(source)
    (state,) = [w for w in workloads.values() if w.component == "state"]
    deployment.api_token = state.setting(API_TOKENS) or ""
    deployment.service_token = state.setting(SERVICE_TOKENS) or ""
    assert deployment.api_token, "the state service accepts no API token: authentication is off"
    assert deployment.service_token, "the state service accepts no service token"
    scratch = tempfile.mkdtemp(prefix=f"tradewind-deploy-{source}-")
    deployment.dags_folder = Path(scratch) / "dags"
    shutil.copytree(
        EXAMPLE_DAGS, deployment.dags_folder, ignore=shutil.ignore_patterns("__pycache__")
    )
    (deployment.dags_folder / f"{DEFERRAL_DAG_ID}.py").write_text(DEFERRAL_DAG)

    def local(
        workload: Workload, port: int = 0, metrics_port: int = 0
    ) -> tuple[list[str], dict[str, str]]:
        home = tempfile.mkdtemp(dir=scratch)
        return localize(
            workload,
            port=port,
            metrics_port=metrics_port,
            state_addresses=deployment.state_addresses,
            database_url=database_url,
            home=home,
            dags_folder=deployment.dags_folder,
            secrets_folder=Path(home) / "run-secrets",
        )

    (migrate,) = [w for w in workloads.values() if w.component == MIGRATE]
    args, env = local(migrate)
    result = subprocess.run(
        [sys.executable, "-m", "tradewind.cli", *args],
        env=child_environment(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{args} failed: {result.stdout}{result.stderr}"
    deployment.migrate_output = result.stdout

    for stage in (["state"], CLIENT_SERVICES):
        started = []
        for workload in workloads.values():
            if workload.component not in stage:
                continue
            for _ in range(workload.replicas):
                port, metrics_port = free_port(), free_port()
                args, env = local(workload, port, metrics_port)
                process = ServiceProcess(args=["-m", "tradewind.cli", *args], port=port, env=env)
                replica = Replica(workload, process, metrics_port, env)
                deployment.replicas.append(replica)
                started.append(replica)
                process.start()
        for replica in started:
            replica.process.wait_serving(timeout=30)


@pytest.fixture(scope="module", params=["compose", "kubernetes"])
def deployment(request: pytest.FixtureRequest, postgres_status: str | None) -> Iterator[Deployment]:
    """The suite started from compose.yaml or from the Kubernetes manifests."""
    require_postgres(postgres_status)
    source = str(request.param)
    failures_before = request.session.testsfailed
    with fresh_database() as url:
        suite = Deployment(source)
        started = False
        try:
            start(source, url, suite)
            started = True
            yield suite
        finally:
            suite.stop()
            if not started or request.session.testsfailed > failures_before:
                print(f"=== {source} deployment logs ===\n{suite.logs()}")


def test_the_migration_ran_and_every_replica_serves_health_and_metrics(
    deployment: Deployment,
) -> None:
    assert "is at revision" in deployment.migrate_output
    assert {c: len(deployment.of(c)) for c in SERVICE_PORTS} == REPLICAS
    for replica in deployment.replicas:
        assert health_status(replica.process.address) == health_pb2.HealthCheckResponse.SERVING
        command = deployment.healthchecks[replica.workload.name]
        if command is not None:
            assert command == ["CMD", "python", HEALTHCHECK_IN_IMAGE]
            check = subprocess.run(
                [sys.executable, str(HEALTHCHECK)],
                env=child_environment(replica.env),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert check.returncode == 0, f"{replica.label}: {check.stdout}{check.stderr}"
            assert "SERVING" in check.stdout
        url = f"http://127.0.0.1:{replica.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
        assert "tradewind_serving" in page, replica.label


async def test_the_state_service_refuses_calls_without_the_generated_tokens(
    deployment: Deployment,
) -> None:
    addresses = deployment.state_addresses
    for token in ("", "not-the-token"):
        async with state_client(*addresses, token=token) as client:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.api.ListDags(api_rr.ListDagsRequest())
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, token
    async with state_client(*addresses, token=deployment.api_token) as client:
        await client.api.ListDags(api_rr.ListDagsRequest())
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await client.scheduler.ListSchedulableDags(scheduler_rr.ListSchedulableDagsRequest())
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with state_client(*addresses, token=deployment.service_token) as client:
        await client.scheduler.ListSchedulableDags(scheduler_rr.ListSchedulableDagsRequest())


async def test_the_example_dag_is_registered_and_a_triggered_run_succeeds(
    deployment: Deployment,
) -> None:
    async with state_client(*deployment.state_addresses, token=deployment.api_token) as client:
        deadline = time.monotonic() + 30
        while True:
            listing = await client.api.ListDags(api_rr.ListDagsRequest())
            if "example_etl" in {d.dag_id for d in listing.dags}:
                break
            assert time.monotonic() < deadline, "example_etl was not registered"
            await asyncio.sleep(0.2)
        trigger = await client.api.TriggerDagRun(
            api_rr.TriggerDagRunRequest(
                dag_id="example_etl",
                conf_json=json.dumps({"multiplier": 2}),
                request_id=f"deploy-{deployment.source}-{uuid.uuid4().hex}",
            )
        )
        key = run_pb2.DagRunKey(dag_id="example_etl", run_id=trigger.dag_run.run_id)
        deadline = time.monotonic() + 30
        while True:
            run = (await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))).dag_run
            if run.state in (dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED):
                break
            assert time.monotonic() < deadline, "the run did not finish"
            await asyncio.sleep(0.1)
        assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        tasks = await client.api.ListTaskInstances(
            api_rr.ListTaskInstancesRequest(dag_id="example_etl", run_id=run.run_id)
        )
        assert {ti.key.task_id: ti.state for ti in tasks.task_instances} == {
            task: ti_enums.TASK_INSTANCE_STATE_SUCCESS for task in ("extract", "transform", "load")
        }


def metric_total(replicas: list[Replica], name: str) -> float:
    """The sum of an unlabelled metric over the replicas' /metrics pages."""
    total = 0.0
    for replica in replicas:
        url = f"http://127.0.0.1:{replica.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
        found = re.search(rf"^{name} (\S+)$", page, re.M)
        assert found, f"{replica.label} does not export {name}"
        total += float(found[1])
    return total


async def test_a_deferred_task_is_resumed_by_a_triggerer(deployment: Deployment) -> None:
    triggerers = deployment.of("triggerer")
    fired = "tradewind_triggerer_triggers_fired_total"
    fired_before = metric_total(triggerers, fired)
    async with state_client(*deployment.state_addresses, token=deployment.api_token) as client:
        deadline = time.monotonic() + 30
        while True:
            listing = await client.api.ListDags(api_rr.ListDagsRequest())
            if DEFERRAL_DAG_ID in {d.dag_id for d in listing.dags}:
                break
            assert time.monotonic() < deadline, f"{DEFERRAL_DAG_ID} was not registered"
            await asyncio.sleep(0.2)
        trigger = await client.api.TriggerDagRun(
            api_rr.TriggerDagRunRequest(
                dag_id=DEFERRAL_DAG_ID,
                request_id=f"deploy-deferral-{deployment.source}-{uuid.uuid4().hex}",
            )
        )
        key = run_pb2.DagRunKey(dag_id=DEFERRAL_DAG_ID, run_id=trigger.dag_run.run_id)
        deadline = time.monotonic() + 60
        while True:
            run = (await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))).dag_run
            if run.state in (dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED):
                break
            assert time.monotonic() < deadline, "the deferred run did not finish"
            await asyncio.sleep(0.1)
        assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        xcoms = await client.api.ListXComs(
            api_rr.ListXComsRequest(dag_id=DEFERRAL_DAG_ID, run_id=run.run_id, task_id="wait")
        )
        values = {x.xcom_key: json.loads(x.value_json) for x in xcoms.xcoms}
        assert values.get("return_value") == {"waited": 0.5}, values
    assert metric_total(triggerers, fired) == fired_before + 1


def test_sigterm_stops_every_replica_within_its_stop_grace_period(deployment: Deployment) -> None:
    for stage in (CLIENT_SERVICES, ["state"]):
        replicas = [r for r in deployment.replicas if r.workload.component in stage]
        sent = time.monotonic()
        for replica in replicas:
            replica.process.signal(signal.SIGTERM)
        for replica in replicas:
            grace = replica.workload.stop_grace
            assert grace is not None, replica.label
            remaining = max(0.1, grace - (time.monotonic() - sent))
            try:
                status = replica.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"{replica.label} still runs {grace}s after SIGTERM: it would be killed"
                )
            assert status == 0, f"{replica.label} exited {status}"
