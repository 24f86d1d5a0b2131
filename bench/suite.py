"""Deploying the suite the way an operator would: separate service processes on loopback."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from executor.isolation import default_user_can_run_tasks

START_SECONDS = 60.0


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serving(address: str) -> bool:
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class Service:
    """One running service process."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    log: Path

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL after 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Suite:
    """State, DAG processor, schedulers, executors and triggerers, started in that order."""

    database_url: str
    dags_folder: Path
    schedulers: int = 1
    executors: int = 1
    triggerers: int = 1
    slots: int = 16
    #: Flags every executor gets besides the harness's own (``--no-confine-tasks``, say).
    executor_args: tuple[str, ...] = ()
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tradewind-bench-")))
    services: list[Service] = field(default_factory=list)

    @functools.cached_property
    def _tasks_as_root(self) -> bool:
        """Running as root where 'nobody' cannot run tasks: the executors are told root."""
        return os.geteuid() == 0 and not default_user_can_run_tasks([self.dags_folder])

    @property
    def state_address(self) -> str:
        """Where the state service listens."""
        return self.services[0].address

    def _start(self, name: str, module: str, *args: str) -> Service:
        port = free_port()
        log = self.workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND_")}
        if self._tasks_as_root:
            env["TRADEWIND_RUN_AS_USER"] = "root"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "--port",
                str(port),
                "--metrics-port",
                "0",
                "--log-level",
                "warning",
                *args,
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        service = Service(name=name, process=process, address=f"127.0.0.1:{port}", log=log)
        deadline = time.monotonic() + START_SECONDS
        while not _serving(service.address):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.services.append(service)
        return service

    def start(self) -> Suite:
        """Start every service and wait until each serves."""
        self._start(
            "state",
            "services.state",
            "--database-url",
            self.database_url,
            "--home",
            str(self.workdir),
            "--migrate",
        )
        state = ["--state-address", self.state_address]
        self._start(
            "dag_processor",
            "dag_processor",
            *state,
            "--dags-folder",
            str(self.dags_folder),
            "--scan-interval",
            "0.5",
        )
        for number in range(self.schedulers):
            self._start(f"scheduler{number}", "scheduler", *state)
        for number in range(self.executors):
            self._start(
                f"executor{number}",
                "executor",
                *state,
                "--dags-folder",
                str(self.dags_folder),
                "--slots",
                str(self.slots),
                *self.executor_args,
            )
        for number in range(self.triggerers):
            self._start(
                f"triggerer{number}",
                "triggerer",
                *state,
                "--dags-folder",
                str(self.dags_folder),
            )
        return self

    def stop(self) -> None:
        """Stop every service, the state service last."""
        for service in reversed(self.services):
            service.stop()

    def pids(self) -> list[int]:
        """The service processes' pids."""
        return [s.process.pid for s in self.services]
