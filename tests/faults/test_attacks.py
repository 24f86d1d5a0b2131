"""A DAG attacks the suite from inside its task processes, and every attempt fails.

Issue 20's attacks, run by a task of a real run, on ``tradewind standalone`` and on separately
started services, on both backends; the run carries a 5 MB conf (a try spec of any size):

1. read the supervisor's and every service's environment and memory (tokens, database URL);
2. read another running try's environment and memory (its lease), while that victim runs;
3. open Tradewind's home (the Fernet key, the generated tokens, the logs) and the SQLite file;
4. call internal RPCs (lease other tries) without a token and with its own lease, and the
   public API without a token: reveal a connection's password, read variables;
5. find the database URL (its password) in any process's command line;
6. signal the process that started it.

The attacker reports what it reached; the test fails if it reached anything it must not, and
checks that the victim's XCom and the connection are as they were. Where the tests run as root
the tasks are told to run as root (see ``tests/helpers/processes.child_environment``), which is
the hardest case: confinement and the loss of capabilities must hold on their own.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.helpers.databases import TemplateDatabases, require_postgres
from tests.helpers.processes import (
    ServiceProcess,
    child_environment,
    free_port,
    free_ports,
)
from tests.helpers.services import start_service
from tradewind.client import Client, Connection, DagRun, DagRunState
from tradewind_common.processes import children_of
from tradewind_common.secret_files import local_tokens

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the attacks go through Linux's /proc"
)

#: In the database URL as its password (PostgreSQL here trusts loopback, so any password
#: connects) or as its file name (SQLite): it must appear in no command line.
MARKER = "db-secret-7d3f9a"
CONNECTION_PASSWORD = "hunter2-connection-pw"
CONF_BYTES = 5 * 1024 * 1024
ATTACKED_FILES = (
    "fernet.key",
    "auth/api-token",
    "auth/service-token",
    "logs/state.log",
    "database",
    "database-wal",
    "listing",
)

ATTACK_DAG = '''
import ctypes
import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import grpc

from protos.api.v1 import request_response_pb2 as api_rr
from protos.api.v1 import service_pb2_grpc as api_grpc
from protos.executor.v1 import request_response_pb2 as executor_rr
from protos.executor.v1 import service_pb2_grpc as executor_grpc
from tradewind import DAG, task
from tradewind.sdk.runtime import current_runtime

HOME = Path({home!r})
DATABASE = {database!r}
ADDRESS = {address!r}
MARKER = {marker!r}
FLAG = Path({flag!r})


def readable(path, size=-1):
    try:
        with open(path, "rb") as handle:
            return handle.read(size) if size >= 0 else handle.read()
    except OSError:
        return None


# The DAG file's top level runs wherever the file is imported (DAG processor parses, tries):
# it tries the home too, and leaves a line for the test per process.
with open(str(FLAG) + ".top-level", "a") as _log:
    _log.write(f"{{os.getpid()}} {{readable(HOME / 'fernet.key', 16) is not None}}\\n")


def mine():
    """This process and its descendants (the attack may read its own)."""
    own, frontier = set(), [os.getpid()]
    while frontier:
        pid = frontier.pop()
        own.add(pid)
        for line in (readable(f"/proc/{{pid}}/task/{{pid}}/children") or b"").split():
            frontier.append(int(line))
    return own


def memory_of(pid):
    maps = readable(f"/proc/{{pid}}/maps")
    if not maps:
        return None
    start = int(maps.split(b"-", 1)[0], 16)
    try:
        with open(f"/proc/{{pid}}/mem", "rb") as handle:
            handle.seek(start)
            return handle.read(64)
    except (OSError, ValueError, OverflowError):
        return None


def rpc(call):
    try:
        call()
    except grpc.RpcError as err:
        return err.code().name
    return "OK"


@task
def victim() -> str:
    from tradewind.sdk.runtime import current_runtime

    current_runtime().push_xcom("held", "victim-data")
    Path(str(FLAG) + ".victim-pid").write_text(str(os.getpid()))
    deadline = time.monotonic() + 90
    while not FLAG.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return "original"


@task
def attacker(**context) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Path(str(FLAG) + ".victim-running").exists():
        time.sleep(0.05)
    own = mine()
    environments, memories, command_lines, scanned = [], [], [], []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        pid = int(entry.name)
        scanned.append(pid)
        if readable(f"/proc/{{pid}}/environ") is not None:
            environments.append(pid)
        if memory_of(pid) is not None:
            memories.append(pid)
        if MARKER.encode() in (readable(f"/proc/{{pid}}/cmdline") or b""):
            command_lines.append(pid)
    files = {{}}
    for name in ("fernet.key", "auth/api-token", "auth/service-token", "logs/state.log"):
        files[name] = readable(HOME / name, 16) is not None
    files["database"] = bool(DATABASE) and readable(DATABASE, 16) is not None
    files["database-wal"] = bool(DATABASE) and readable(DATABASE + "-wal", 16) is not None
    try:
        os.listdir(HOME)
        files["listing"] = True
    except OSError:
        files["listing"] = False
    lease = [("authorization", f"Lease {{current_runtime()._lease.lease_id}}")]
    with grpc.insecure_channel(ADDRESS) as channel:
        api = api_grpc.ApiServiceStub(channel)
        executor = executor_grpc.ExecutorServiceStub(channel)
        lease_request = executor_rr.LeaseTaskInstancesRequest(executor_id="x", max_leases=5)
        calls = {{
            "lease_tries": rpc(lambda: executor.LeaseTaskInstances(lease_request)),
            "lease_tries_with_lease": rpc(
                lambda: executor.LeaseTaskInstances(lease_request, metadata=lease)),
            "reveal": rpc(lambda: api.GetConnection(
                api_rr.GetConnectionRequest(conn_id="warehouse", reveal_secrets=True))),
            "variables": rpc(lambda: api.ListVariables(api_rr.ListVariablesRequest())),
        }}
    try:
        os.kill(os.getppid(), 0)
        signalled = True
    except OSError:
        signalled = False
    FLAG.touch()
    return {{
        "environments": environments,
        "scanned": scanned,
        "memories": memories,
        "command_lines": command_lines,
        "files": files,
        "calls": calls,
        "signalled_parent": signalled,
        "conf_bytes": len(context["dag_run"].conf["blob"]),
        "uid": os.geteuid(),
    }}


@task
def announce() -> None:
    Path(str(FLAG) + ".victim-running").touch()


with DAG("attack", schedule=None, start_date=datetime(2026, 1, 1)):
    attacker()
    victim()
    announce()
'''


@dataclass
class Suite:
    """Services under attack: where to call them, their home, and their processes."""

    address: str
    home: Path
    dags: Path
    pids: set[int] = field(default_factory=set)
    token: str = ""
    #: The SQLite file, on SQLite.
    database_file: Path | None = None


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        for child in children_of(frontier.pop()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def database_url(backend: str, template_databases: TemplateDatabases, scratch: Path) -> str:
    """A migrated database whose URL carries :data:`MARKER`."""
    url = make_url(template_databases.new_url(backend))
    if backend == "postgresql":
        return url.set(password=MARKER).render_as_string(hide_password=False)
    copy = scratch / f"{MARKER}.db"
    copy.write_bytes(Path(str(url.database)).read_bytes())
    return f"sqlite:///{copy}"


@pytest.fixture(params=["standalone", "services"])
def suite(
    request: pytest.FixtureRequest,
    backend: str,
    template_databases: TemplateDatabases,
    postgres_status: str | None,
    tmp_path: Path,
) -> Iterator[Suite]:
    if backend == "postgresql":
        require_postgres(postgres_status)
    url = database_url(backend, template_databases, tmp_path)
    home, dags = tmp_path / "home", tmp_path / "dags"
    dags.mkdir()
    if request.param == "standalone":
        found = _standalone(url, home, dags)
    else:
        found = _services(url, home, dags)
    for running in found:
        running.database_file = sqlite_file(url)
        yield running


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database."""
    parsed = make_url(url)
    return Path(str(parsed.database)) if parsed.get_backend_name() == "sqlite" else None


def _standalone(url: str, home: Path, dags: Path) -> Iterator[Suite]:
    base = free_ports(5)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradewind.cli",
            "standalone",
            "--home",
            str(home),
            "--dags-folder",
            str(dags),
            "--port-base",
            str(base),
            "--metrics-port-base",
            "0",
            "--grace-period",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_environment({"TRADEWIND_DATABASE_URL": url}),
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ready."):
                break
        else:
            raise AssertionError(f"standalone did not start: {''.join(lines)}")
        token = local_tokens(home).api_file.read_text().strip()
        yield Suite(f"127.0.0.1:{base}", home, dags, {process.pid}, token)
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


def _services(url: str, home: Path, dags: Path) -> Iterator[Suite]:
    tokens = local_tokens(home)
    tokens.ensure()
    service_token = tokens.service_file.read_text().strip()
    port = free_port()
    secrets_env = {
        "TRADEWIND_SERVICE_TOKENS_FILE": str(tokens.service_file),
        "TRADEWIND_API_TOKENS_FILE": str(tokens.api_file),
        "TRADEWIND_HOME": str(home),
    }
    state = ServiceProcess(
        args=["-m", "services.state", "--port", str(port), "--metrics-port", "0"],
        port=port,
        env={**secrets_env, "TRADEWIND_DATABASE_URL": url},
    )
    state.start().wait_serving()
    client_env = {**secrets_env, "TRADEWIND_STATE_TOKEN_FILE": str(tokens.service_file)}
    database = sqlite_file(url)
    if database is not None:  # outside the home: the operator names it (README, Isolation)
        client_env["TRADEWIND_PROTECTED_PATHS"] = str(database)
    others = [
        start_service("dag_processor", state.address, "--dags-folder", str(dags), env=client_env),
        start_service("scheduler", state.address, env=client_env),
        start_service("executor", state.address, "--dags-folder", str(dags), env=client_env),
    ]
    try:
        pids = {p.process.pid for p in [state, *others] if p.process is not None}
        assert service_token
        yield Suite(state.address, home, dags, pids, tokens.api_file.read_text().strip())
    finally:
        for process in [*others, state]:
            process.stop()


@pytest.mark.timeout(300)
async def test_every_attack_from_a_task_fails_and_the_victim_is_untouched(
    suite: Suite, tmp_path: Path
) -> None:
    # Not directly in tmp_path: the home's parent folders admit no new entry from a task.
    shared = tmp_path / "shared"
    shared.mkdir()
    flag = shared / "attack-done"
    source = ATTACK_DAG.format(
        home=str(suite.home),
        database=str(suite.database_file) if suite.database_file else "",
        address=suite.address,
        marker=MARKER,
        flag=str(flag),
    )
    (suite.dags / "attack.py").write_text(textwrap.dedent(source))
    suite_pids = set(suite.pids)

    def collect_pids(_: DagRun) -> None:
        for pid in list(suite_pids):
            suite_pids.update(descendants(pid))

    async with Client(suite.address, token=suite.token) as client:
        await client.set_connection(
            Connection(
                conn_id="warehouse", conn_type="postgres", host="db", password=CONNECTION_PASSWORD
            )
        )
        await client.set_variable("api_key", "variable-secret")
        deadline = time.monotonic() + 60
        while not [dag async for dag in client.dags(dag_id_contains="attack")]:
            if time.monotonic() > deadline:
                errors = [e.message async for e in client.import_errors()]
                pytest.fail(f"the attack DAG was not registered: {errors}")
            await asyncio.sleep(0.2)
        run = await client.trigger("attack", conf={"blob": "x" * CONF_BYTES})
        finished = await client.wait_for_run(
            "attack", run.run_id, timeout=180, on_change=collect_pids
        )
        if finished.state is not DagRunState.SUCCESS:
            logs = [line async for line in _logs(client, run.run_id)]
            logs += [
                f"{t.task_id} try {t.try_number}: {t.state} {t.error}"
                async for t in client.task_instance_tries("attack", run.run_id)
            ]
            services = [
                f"{path.name}: {line}"
                for path in sorted((suite.home / "logs").glob("*.log"))
                for line in path.read_text(errors="replace").splitlines()[-15:]
            ]
            pytest.fail(
                f"the attack run ended {finished.state}:\n" + "\n".join(logs[-80:] + services)
            )
        xcoms = {(x.task_id, x.key): x.value async for x in client.xcoms("attack", run.run_id)}

    found = xcoms[("attacker", "return_value")]
    assert found["conf_bytes"] == CONF_BYTES
    # The attacker did look at the suite's processes, and reached none of them.
    assert len(suite_pids) >= 5
    victim_pid = recorded_pid(flag)
    assert victim_pid in found["scanned"], "the attacker did not see the running victim"
    suite_pids.add(victim_pid)
    breached = (set(found["environments"]) | set(found["memories"])) & suite_pids
    assert not breached, f"read the memory or environment of {breached}"
    assert found["command_lines"] == [], "the database URL is on a command line"
    assert found["files"] == dict.fromkeys(ATTACKED_FILES, False)
    assert found["calls"] == {
        "lease_tries": "UNAUTHENTICATED",
        "lease_tries_with_lease": "PERMISSION_DENIED",
        "reveal": "UNAUTHENTICATED",
        "variables": "UNAUTHENTICATED",
    }
    assert found["signalled_parent"] is False
    top_level = read_top_level(flag)
    assert len(top_level) >= 2, "the DAG file's top level ran in no parse and no try"
    assert set(top_level.values()) == {"False"}, f"top-level code read the key: {top_level}"
    assert xcoms[("victim", "held")] == "victim-data"
    assert xcoms[("victim", "return_value")] == "original"
    # The attacked files were there to be read (separate services log elsewhere).
    for name in ("fernet.key", "auth/api-token", "auth/service-token"):
        assert (suite.home / name).exists(), name
    assert (suite.home / "logs/state.log").exists() == (len(suite.pids) == 1)
    if suite.database_file is not None:
        assert suite.database_file.exists()
        assert suite.database_file.with_name(suite.database_file.name + "-wal").exists()


def read_top_level(flag: Path) -> dict[str, str]:
    """What the DAG file's top level reached in each process that imported it: pid -> key read."""
    lines = Path(str(flag) + ".top-level").read_text().split("\n")
    return dict(line.split(" ", 1) for line in lines if line)


def recorded_pid(flag: Path) -> int:
    """The pid the victim task wrote beside the flag."""
    return int(Path(str(flag) + ".victim-pid").read_text())


async def _logs(client: Client, run_id: str) -> AsyncIterator[str]:
    for task_id in ("attacker", "victim", "announce"):
        async for line in client.follow_logs("attack", run_id, task_id):
            yield f"{task_id}: {line.message}"
