"""Start real service processes on free loopback ports and wait for them."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


#: Ports handed to services come from below the kernel's ephemeral range (32768 and up), so
#: that no outgoing connection holds one, in one block per pytest-xdist worker, so that two
#: workers never hand out the same port.
PORTS_FROM = 10000
PORTS_TO = 32768
MOST_PER_WORKER = 2500
_next_port: int | None = None


def _worker_block() -> tuple[int, int]:
    """The first port and the size of this worker's block."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    number = int(worker) if worker.isdigit() else 0
    size = min(
        MOST_PER_WORKER, (PORTS_TO - PORTS_FROM) // max(1, int(count) if count.isdigit() else 1)
    )
    return PORTS_FROM + number * size, size


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago, not handed out before by this
    process (unless its worker's whole block went round), and never by another worker."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports that were free a moment ago (as ``free_port``)."""
    global _next_port
    block, size = _worker_block()
    if _next_port is None:
        _next_port = random.randrange(size - count)
    for _ in range(size):
        if _next_port + count > size:
            _next_port = 0
        first = block + _next_port
        _next_port += count
        if all(_bindable(port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} free ports in a row in {block}..{block + size - 1}")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def assert_eventually(
    check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> T:
    """Call ``check`` until it returns a truthy value without raising; return that value."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as err:
            last_error = err
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not true within {timeout}s: {message or check}"
                + (f" (last error: {last_error!r})" if last_error else "")
            )
        time.sleep(interval)


def health_status(address: str, service: str = "") -> int:
    """The health status of ``service`` at ``address`` (raises when unreachable)."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2).status)


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: no TRADEWIND_* leaking in, the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if os.geteuid() == 0:
        # Tests' DAG files live in root's private temporary folders, out of reach of 'nobody'
        # (an executor's default task user under root): tests say explicitly that tasks run as
        # root (without capabilities). tests/faults/test_attacks.py checks the default.
        env["TRADEWIND_RUN_AS_USER"] = "root"
    env.update(extra or {})
    return env


@dataclass
class ServiceProcess:
    """A service running as a real child process."""

    args: Sequence[str]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    #: Where the process's stdout and stderr go (a file, so a chatty process never blocks).
    log_path: Path | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        """Start the process; its output goes to :attr:`log_path`."""
        with tempfile.NamedTemporaryFile(prefix="tradewind-", suffix=".log", delete=False) as log:
            self.log_path = Path(log.name)
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                env=child_environment(self.env),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_serving(self, timeout: float = 20.0) -> ServiceProcess:
        """Wait until the health service reports SERVING."""

        def serving() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"process exited {self.process.returncode}: {self.output()}")
            return bool(health_status(self.address) == health_pb2.HealthCheckResponse.SERVING)

        assert_eventually(serving, timeout=timeout, message=f"{self.args} serving")
        return self

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to the process."""
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit; return its exit status."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        """Everything the process has written so far."""
        assert self.log_path is not None
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the process, killing it when it does not stop in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
