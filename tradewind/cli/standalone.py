"""``tradewind standalone``: every service on this machine, as separate supervised processes.

The state service (SQLite under ``$TRADEWIND_HOME`` unless ``--database-url`` says otherwise)
starts first, migrating its database; then the DAG processor, the scheduler, the executor and
the triggerer.
``Ready.`` is printed once every one of them serves (the process this supervisor started, not
another one on the same port). A service that cannot start stops the whole suite with its own
one-line reason and a non-zero exit; one that exits later is restarted with back-off, unless
its configuration is what failed (exit status 2).

Authentication is on: the supervisor generates an API token and a service token into
``$TRADEWIND_HOME/auth/`` (owner-only) on first start, the services read them from there (never
from a command line or an environment variable), and the CLI and the client find the API token
there when they call a loopback address. The database URL reaches the state service alone, in its
environment, never on a command line.

Nothing outlives the supervisor: Ctrl-C, SIGTERM, SIGHUP or a closed output pipe stop every
service (the state service last; running tries get the executor's grace period, then their
processes are killed); the services also get SIGTERM from the kernel if the supervisor itself
is killed; and processes orphaned below it are adopted and killed at the end. Each service logs
to ``$TRADEWIND_HOME/logs/<service>.log``.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.runtime.v1 import message_pb2 as runtime_pb2
from protos.runtime.v1 import request_response_pb2 as runtime_rr
from protos.runtime.v1 import service_pb2_grpc as runtime_grpc
from tradewind_common import config as cfg
from tradewind_common.config import ConfigError
from tradewind_common.processes import (
    PR_SET_DUMPABLE,
    SUPERVISOR_PID_ENV,
    become_subreaper,
    kill_descendants,
    prctl,
    reap_children,
)
from tradewind_common.secret_files import (
    local_tokens,
    scrubbed_environment,
    write_secret_file,
)
from tradewind_common.version import tradewind_version

HOST = cfg.Setting(
    name="host", parse=cfg.parse_text, default="127.0.0.1", help="address every service listens on"
)
PORT_BASE = cfg.Setting(
    name="port_base",
    parse=cfg.parse_port,
    default=50051,
    help="gRPC port of the state service; the scheduler, executor, DAG processor and triggerer"
    " take the next 4",
)
METRICS_PORT_BASE = cfg.Setting(
    name="metrics_port_base",
    parse=cfg.parse_optional_port,
    default=9151,
    help="metrics port of the state service, the others take the next four (0 disables metrics)",
)
DATABASE_URL = cfg.Setting(
    name="database_url",
    parse=cfg.parse_text,
    default="",
    help="database of the state service; unset means SQLite under $TRADEWIND_HOME",
)
AUTH = cfg.Setting(
    name="auth",
    parse=cfg.parse_bool,
    default=True,
    switch=True,
    help="require tokens (generated into $TRADEWIND_HOME/auth/, found there by the CLI);"
    " --no-auth lets any local process call every RPC",
)
API_TOKENS = cfg.Setting[tuple[str, ...]](
    name="api_tokens",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated API tokens accepted besides the generated one",
)
SLOTS = cfg.Setting(name="slots", parse=cfg.parse_positive_int, default=16, help="executor slots")
GRACE_PERIOD = cfg.Setting(
    name="grace_period",
    parse=cfg.parse_seconds,
    default=10.0,
    help="seconds every service, and every running try, gets to finish when stopping",
)
SETTINGS = (
    cfg.HOME,
    cfg.DAGS_FOLDER,
    *cfg.PARSING_SETTINGS,
    DATABASE_URL,
    HOST,
    PORT_BASE,
    METRICS_PORT_BASE,
    AUTH,
    API_TOKENS,
    SLOTS,
    GRACE_PERIOD,
    cfg.LOG_LEVEL,
)

#: The file of every API token the state service accepts (the generated one and --api-tokens).
ACCEPTED_API_TOKENS_FILE = "accepted-api-tokens"
#: The variables of the auth settings; a service gets them from the supervisor only.
AUTH_VARIABLES = frozenset(
    {"TRADEWIND_API_TOKENS", "TRADEWIND_SERVICE_TOKENS", "TRADEWIND_STATE_TOKEN"}
)
#: Seconds each service gets to report SERVING.
START_SECONDS = 60.0
#: Seconds each service gets to stop after SIGTERM beyond its grace period: the executor kills
#: the tries still running when the grace ends, and gives them 5 s more to go.
STOP_MARGIN_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 30.0
#: The exit status of a service whose configuration is wrong: restarting it cannot help.
EXIT_CONFIG_ERROR = 2
#: Ports are numbered from the base in this order (the scheduler is base + 1, ...).
PORT_OFFSETS = {"state": 0, "scheduler": 1, "executor": 2, "dag-processor": 3, "triggerer": 4}


class OutputClosed(Exception):
    """The console the supervisor prints to is gone (a closed pipe, a hung-up terminal)."""


def say(text: str, *, stream: IO[str] | None = None) -> None:
    """Print one line to the console.

    Raises:
        OutputClosed: nobody reads the output any more.

    """
    out = stream or sys.stdout
    try:
        print(text, file=out, flush=True)
    except (BrokenPipeError, ValueError) as err:  # ValueError: the stream was closed
        _silence_stdout()
        raise OutputClosed from err


def _silence_stdout() -> None:
    # Later prints, and the flush at exit, must not fail again while the services stop.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    os.close(devnull)


def output_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (noticed without writing to it)."""
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLERR)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


@dataclass
class Child:
    """One supervised service process."""

    name: str
    module: str
    args: list[str]
    port: int
    log_path: Path
    #: Its environment; secrets reach it only as files it reads, or (the state service's
    #: database URL) in here.
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    #: What the service says of itself once it serves.
    info: runtime_pb2.ServerInfo | None = None

    def start(self) -> None:
        """Start (or restart) the process, appending to its log file."""
        if self.log is None:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self.log = os.fdopen(fd, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", self.module, *self.args],  # -P: no cwd on sys.path
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops the children
            env={**self.env, SUPERVISOR_PID_ENV: str(os.getpid())},
        )
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        """The exit status once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def reason(self) -> str:
        """The last line the service wrote: its one-line reason when it failed to start."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def stop(self, grace_seconds: float) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped in time; return the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=grace_seconds + STOP_MARGIN_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class StartFailed(Exception):
    """A service did not come up; the message says which and why."""


def server_info(address: str, token: str = "") -> runtime_pb2.ServerInfo | None:
    """What the service at ``address`` says of itself once it reports SERVING, else None."""
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
            if health.status != health_pb2.HealthCheckResponse.SERVING:
                return None
            response = runtime_grpc.ServerInfoServiceStub(channel).GetServerInfo(
                runtime_rr.GetServerInfoRequest(), timeout=1, metadata=metadata
            )
    except grpc.RpcError:
        return None
    return response.info


def wait_serving(child: Child, address: str, stopping: list[bool], token: str = "") -> None:
    """Wait until the process ``child`` started serves at ``address``.

    Raises:
        StartFailed: it exited (its own reason in the message), another process answers on
            its port, or it did not serve in time.

    """
    assert child.process is not None
    deadline = time.monotonic() + START_SECONDS
    while not stopping[0]:
        code = child.exited()
        if code is not None:
            raise StartFailed(f"{child.name} could not start: {child.reason() or f'exit {code}'}")
        info = server_info(address, token)
        if info is not None and info.pid == child.process.pid:
            child.info = info
            return
        if time.monotonic() > deadline:
            other = f" (another process, pid {info.pid}, serves {address})" if info else ""
            raise StartFailed(
                f"{child.name} did not serve within {START_SECONDS:.0f} s{other};"
                f" see {child.log_path}"
            )
        time.sleep(0.1)


def _address(host: str, port: int) -> str:
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


def auth_environment(values: cfg.Settings) -> dict[str, str]:
    """The variables that point every service at the token files (none with --no-auth).

    Raises:
        OSError: the tokens cannot be written to the home folder.

    """
    if not values[AUTH]:
        return {}
    tokens = local_tokens(values[cfg.HOME])
    tokens.ensure()
    accepted = tokens.folder / ACCEPTED_API_TOKENS_FILE
    lines = [tokens.api_file.read_text().strip(), *values[API_TOKENS]]
    accepted.unlink(missing_ok=True)
    write_secret_file(accepted, "\n".join(lines) + "\n")
    return {
        "TRADEWIND_API_TOKENS_FILE": str(accepted),
        "TRADEWIND_SERVICE_TOKENS_FILE": str(tokens.service_file),
        "TRADEWIND_STATE_TOKEN_FILE": str(tokens.service_file),
    }


def service_environment(
    values: cfg.Settings, auth: dict[str, str], *, state: bool
) -> dict[str, str]:
    """The environment of one service: this one's, without secrets, plus the token files.

    The state service alone gets the database URL and the secret key, and keeps ``PG*``
    variables for the PostgreSQL driver; the others get no secret at all.
    """
    kept = dict(os.environ) if state else scrubbed_environment()
    for name in list(kept):
        if name.removesuffix(cfg.FILE_SUFFIX) in AUTH_VARIABLES or name.startswith(
            "TRADEWIND_DATABASE_URL"
        ):
            del kept[name]
    kept.update(auth)
    kept["TRADEWIND_HOME"] = str(values[cfg.HOME].expanduser())  # what task code may not reach
    database = sqlite_file(values[DATABASE_URL])
    if database is not None and not state:
        kept["TRADEWIND_PROTECTED_PATHS"] = ",".join(
            filter(None, [kept.get("TRADEWIND_PROTECTED_PATHS", ""), str(database)])
        )
    if state and values[DATABASE_URL]:
        kept["TRADEWIND_DATABASE_URL"] = values[DATABASE_URL]
    return kept


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (not in the home, so task code must be kept from it)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix:
        return None
    return Path(url.removeprefix(prefix).split("?", 1)[0]).expanduser().resolve()


def build_children(values: cfg.Settings) -> list[Child]:
    """The five services, configured to find each other, in start order."""
    home: Path = values[cfg.HOME].expanduser()
    dags: Path = values[cfg.DAGS_FOLDER].expanduser().resolve()
    host, base, metrics = values[HOST], values[PORT_BASE], values[METRICS_PORT_BASE]
    logs = home / "logs"
    if not home.exists():
        home.mkdir(mode=0o700, parents=True)  # it will hold the database, keys and tokens
    logs.mkdir(mode=0o700, parents=True, exist_ok=True)

    def common(name: str) -> list[str]:
        offset = PORT_OFFSETS[name]
        return [
            "--host",
            host,
            "--port",
            str(base + offset),
            "--metrics-port",
            str(metrics + offset if metrics else 0),
            "--log-level",
            values[cfg.LOG_LEVEL],
            "--grace-period",
            f"{values[GRACE_PERIOD]:g}",
        ]

    state_args = [*common("state"), "--home", str(home), "--migrate"]
    client = ["--state-address", _address(host, base)]
    folder = ["--dags-folder", str(dags), *parsing_flags(values)]
    specs = [
        ("state", "services.state", state_args),
        ("dag-processor", "dag_processor", [*common("dag-processor"), *client, *folder]),
        ("scheduler", "scheduler", [*common("scheduler"), *client, *plugins_flag(values)]),
        (
            "executor",
            "executor",
            [*common("executor"), *client, *folder, "--slots", str(values[SLOTS])],
        ),
        ("triggerer", "triggerer", [*common("triggerer"), *client, *folder]),
    ]
    auth = auth_environment(values)
    state_env, others_env = (service_environment(values, auth, state=s) for s in (True, False))
    return [
        Child(
            name,
            module,
            args,
            base + PORT_OFFSETS[name],
            logs / f"{name}.log",
            env=state_env if name == "state" else others_env,
        )
        for name, module, args in specs
    ]


def plugins_flag(values: cfg.Settings) -> list[str]:
    """``--plugins-folder`` for a service, when one is set."""
    folder = values[cfg.PLUGINS_FOLDER]
    return [cfg.PLUGINS_FOLDER.flag, str(folder.expanduser().resolve())] if folder else []


def parsing_flags(values: cfg.Settings) -> list[str]:
    """The flags of the settings every process that parses DAG files must agree on."""
    flags = plugins_flag(values)
    for setting in (cfg.CREATE_CRON_DATA_INTERVALS, cfg.CREATE_DELTA_DATA_INTERVALS):
        flags.append(setting.flag if values[setting] else "--no-" + setting.flag[2:])
    return flags


def folder_warnings(folder: Path) -> list[str]:
    """What is worth a warning about the DAG folder before anything runs."""
    if not folder.is_dir():
        return [f"warning: the DAG folder {folder} does not exist; create it or pass --dags-folder"]
    if not any(folder.rglob("*.py")):
        return [f"warning: the DAG folder {folder} holds no Python file, so no DAG will appear"]
    return []


def supervise(children: list[Child], stopping: list[bool]) -> None:
    """Restart services that exit, with back-off, until ``stopping`` is set.

    Raises:
        StartFailed: a service exited because of its configuration (restarting cannot help).
        OutputClosed: nobody reads the console any more (``standalone | head``).

    """
    next_start: dict[str, float] = {}
    while not stopping[0]:
        if output_closed():
            raise OutputClosed
        reap_children()  # orphans adopted from below
        for child in children:
            code = child.exited()
            if code is None or stopping[0]:
                continue
            if code == EXIT_CONFIG_ERROR:
                raise StartFailed(f"{child.name} stopped: {child.reason()}")
            now = time.monotonic()
            if child.name not in next_start:
                uptime = now - child.started_at
                delay = (
                    0.0
                    if uptime > MAX_BACKOFF_SECONDS
                    else min(MAX_BACKOFF_SECONDS, 2.0**child.restarts)
                )
                next_start[child.name] = now + delay
                say(
                    f"{child.name} exited with status {code}; restarting in {delay:.0f} s"
                    f" (log: {child.log_path})"
                )
            if now >= next_start[child.name]:
                del next_start[child.name]
                child.restarts += 1
                child.start()
        time.sleep(0.2)


def main(argv: Sequence[str]) -> int:
    """Run the whole suite until Ctrl-C; return the exit status."""
    try:
        parser = cfg.build_parser(
            "tradewind standalone", "Run every Tradewind service on this machine.", SETTINGS
        )
        values = cfg.resolve_settings(parser.parse_args(argv), SETTINGS)
        children = build_children(values)
    except (ConfigError, OSError) as err:
        print(f"tradewind standalone: error: {err}", file=sys.stderr)
        return 2
    stopping = [False]

    def request_stop(signum: int, frame: object) -> None:
        stopping[0] = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    become_subreaper()
    # Tasks run as this user: they must not read the supervisor's environment or memory (the
    # services' settings, tokens among them, pass through it).
    prctl(PR_SET_DUMPABLE, 0)
    home = values[cfg.HOME].expanduser()
    folder = values[cfg.DAGS_FOLDER].expanduser().resolve()
    tokens = local_tokens(home)
    service_token = tokens.service_file.read_text().strip() if values[AUTH] else ""
    started: list[Child] = []
    status = 0
    try:
        say(f"Tradewind {tradewind_version()} standalone, home {home}")
        for warning in folder_warnings(folder):
            say(warning)
        for child in children:
            child.start()
            started.append(child)
            wait_serving(child, _address(values[HOST], child.port), stopping, service_token)
            if stopping[0]:
                break
            info = child.info
            assert info is not None
            where = f"metrics :{info.metrics_port}" if info.metrics_port else "metrics off"
            say(f"  {child.name:<14} {info.grpc_address:<22} {where}")
        if not stopping[0]:
            for child in started:  # one that served may have died while the next started
                code = child.exited()
                if code is not None:
                    raise StartFailed(
                        f"{child.name} exited with status {code} while the suite started:"
                        f" {child.reason()}"
                    )
            say(
                f"Authentication on: the API token is in {tokens.api_file} (the CLI and the"
                " client read it there)"
                if values[AUTH]
                else "Authentication OFF (--no-auth): any local process may call every RPC"
            )
            say(f"Ready. DAG folder {folder}; logs in {home / 'logs'}. Ctrl-C stops everything.")
            supervise(children, stopping)
        say("stopping...")
    except StartFailed as err:
        print(f"tradewind standalone: error: {err}", file=sys.stderr)
        status = 1
    except OutputClosed:
        print("tradewind standalone: the output was closed; stopping", file=sys.stderr)
        status = 1
    finally:
        _stop_all(started, values[GRACE_PERIOD])
    try:
        say("stopped")
    except OutputClosed:
        status = status or 1
    return status


def _stop_all(children: list[Child], grace_seconds: float) -> None:
    """Stop the services (the state service last), then whatever they left behind."""
    for child in reversed(children):
        child.stop(grace_seconds)
        if child.log is not None:
            child.log.close()
    # Processes orphaned below the supervisor were adopted by it (it is their subreaper).
    kill_descendants(signal.SIGKILL)
    reap_children()
