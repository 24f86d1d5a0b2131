"""``tradewind standalone``: every service on this machine, as separate supervised processes.

The state service (SQLite under ``$TRADEWIND_HOME`` unless ``--database-url`` says otherwise)
starts first, migrating its database; then the DAG processor, the scheduler and the executor.
A service that exits is restarted with back-off; Ctrl-C (or SIGTERM) stops them all, the state
service last, and exits 0. Each service logs to ``$TRADEWIND_HOME/logs/<service>.log``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tradewind_common import config as cfg
from tradewind_common.config import ConfigError
from tradewind_common.version import tradewind_version

HOST = cfg.Setting(
    name="host", parse=cfg.parse_text, default="127.0.0.1", help="address every service listens on"
)
PORT_BASE = cfg.Setting(
    name="port_base",
    parse=cfg.parse_port,
    default=50051,
    help="gRPC port of the state service; the scheduler, executor, DAG processor take the next 3",
)
METRICS_PORT_BASE = cfg.Setting(
    name="metrics_port_base",
    parse=cfg.parse_optional_port,
    default=9151,
    help="metrics port of the state service, the others take the next three (0 disables metrics)",
)
DATABASE_URL = cfg.Setting(
    name="database_url",
    parse=cfg.parse_text,
    default="",
    help="database of the state service; unset means SQLite under $TRADEWIND_HOME",
)
SLOTS = cfg.Setting(name="slots", parse=cfg.parse_positive_int, default=16, help="executor slots")
SETTINGS = (
    cfg.HOME,
    cfg.DAGS_FOLDER,
    DATABASE_URL,
    HOST,
    PORT_BASE,
    METRICS_PORT_BASE,
    SLOTS,
    cfg.LOG_LEVEL,
)

#: Seconds each service gets to report SERVING.
START_SECONDS = 60.0
#: Seconds each service gets to stop after SIGTERM before it is killed.
STOP_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class Child:
    """One supervised service process."""

    name: str
    module: str
    args: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        """Start (or restart) the process, appending to its log file."""
        if self.log is None:
            self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops the children
        )
        self.started_at = time.monotonic()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after the grace; return the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def serving(address: str) -> bool:
    """Whether the service at ``address`` reports SERVING."""
    try:
        with grpc.insecure_channel(address) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
    except grpc.RpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def wait_serving(child: Child, address: str) -> None:
    """Wait until ``child`` serves; raise ConfigError with its log's tail if it dies or hangs."""
    deadline = time.monotonic() + START_SECONDS
    while not serving(address):
        assert child.process is not None
        if child.process.poll() is not None or time.monotonic() > deadline:
            tail = child.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise ConfigError(
                f"{child.name} did not start; see {child.log_path}: " + " | ".join(tail)
            )
        time.sleep(0.1)


def _address(host: str, port: int) -> str:
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


def build_children(values: cfg.Settings) -> list[Child]:
    """The four services, configured to find each other."""
    home: Path = values[cfg.HOME].expanduser()
    dags: Path = values[cfg.DAGS_FOLDER].expanduser().resolve()
    host, base, metrics = values[HOST], values[PORT_BASE], values[METRICS_PORT_BASE]
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    state_address = _address(host, base)

    def common(offset: int) -> list[str]:
        return [
            "--host",
            host,
            "--port",
            str(base + offset),
            "--metrics-port",
            str(metrics + offset if metrics else 0),
            "--log-level",
            values[cfg.LOG_LEVEL],
        ]

    state_args = [*common(0), "--home", str(home), "--migrate"]
    if values[DATABASE_URL]:
        state_args += ["--database-url", values[DATABASE_URL]]
    client = ["--state-address", state_address]
    return [
        Child("state", "services.state", state_args, base, logs / "state.log"),
        Child(
            "dag-processor",
            "dag_processor",
            [*common(3), *client, "--dags-folder", str(dags)],
            base + 3,
            logs / "dag-processor.log",
        ),
        Child("scheduler", "scheduler", [*common(1), *client], base + 1, logs / "scheduler.log"),
        Child(
            "executor",
            "executor",
            [*common(2), *client, "--dags-folder", str(dags), "--slots", str(values[SLOTS])],
            base + 2,
            logs / "executor.log",
        ),
    ]


def supervise(children: list[Child], host: str, stop: list[bool]) -> None:
    """Restart services that exit, with back-off, until ``stop`` is set."""
    next_start: dict[str, float] = {}
    while not stop[0]:
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None or stop[0]:
                continue
            now = time.monotonic()
            if child.name not in next_start:
                uptime = now - child.started_at
                delay = (
                    0.0
                    if uptime > MAX_BACKOFF_SECONDS
                    else min(MAX_BACKOFF_SECONDS, 2.0**child.restarts)
                )
                next_start[child.name] = now + delay
                print(
                    f"{child.name} exited with status {code}; restarting in {delay:.0f} s"
                    f" (log: {child.log_path})",
                    flush=True,
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
    except ConfigError as err:
        print(f"tradewind standalone: error: {err}", file=sys.stderr)
        return 2
    stop = [False]

    def request_stop(signum: int, frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    host = values[HOST]
    home = values[cfg.HOME].expanduser()
    print(f"Tradewind {tradewind_version()} standalone, home {home}", flush=True)
    started: list[Child] = []
    try:
        for child in children:
            child.start()
            started.append(child)
            wait_serving(child, _address(host, child.port))
            metrics = values[METRICS_PORT_BASE]
            where = f"metrics :{metrics + children.index(child)}" if metrics else "metrics off"
            print(f"  {child.name:<14} {_address(host, child.port):<22} {where}", flush=True)
            if stop[0]:
                break
        if not stop[0]:
            print(
                f"Ready. DAG folder {values[cfg.DAGS_FOLDER].expanduser().resolve()};"
                f" logs in {home / 'logs'}. Ctrl-C stops everything.",
                flush=True,
            )
            supervise(children, host, stop)
    except ConfigError as err:
        print(f"tradewind standalone: error: {err}", file=sys.stderr)
        _stop_all(started)
        return 1
    print("stopping...", flush=True)
    _stop_all(started)
    print("stopped", flush=True)
    return 0


def _stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        child.stop()
        if child.log is not None:
            child.log.close()
