"""`tradewind standalone` as a person runs it: honest start-up, and nothing left behind.

Real supervisor processes with the five services and a BashOperator task running `sleep`;
the supervisor is stopped every way it can be (SIGINT, SIGTERM, SIGKILL, a closed output pipe)
and `/proc` must then hold none of the processes it started, nor the task's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.processes import assert_eventually, child_environment, free_ports
from tradewind_common.processes import children_of

SLEEP = "sleep 97.25"  # a command line no other process has
SLEEPER_DAG = f"""
from datetime import datetime
from tradewind import DAG, BashOperator

with DAG("sleeper", start_date=datetime(2026, 1, 1), schedule=None):
    BashOperator(task_id="nap", bash_command="{SLEEP}")
"""
READY_SECONDS = 90.0


def free_port_base() -> int:
    """A port with the four after it free on 127.0.0.1 a moment ago (one per service)."""
    return free_ports(5)


@dataclass
class Standalone:
    process: subprocess.Popen[str]
    port_base: int
    home: Path
    lines: list[str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port_base}"

    def read_until(self, marker: str, timeout: float = READY_SECONDS) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if marker in line:
                return
        raise AssertionError(f"no {marker!r} from standalone: {self.lines}")

    def __enter__(self) -> Standalone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> tuple[str, str]:
        """Stop it (if it still runs) and collect the rest of its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=30)
        except ValueError:  # stdout was closed by the test
            self.process.wait(timeout=60)
            out, err = "", self.process.stderr.read() if self.process.stderr else ""
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return out or "", err or ""

    def descendants(self) -> set[int]:
        found: set[int] = set()
        frontier = [self.process.pid]
        while frontier:
            for pid in children_of(frontier.pop()):
                if pid not in found:
                    found.add(pid)
                    frontier.append(pid)
        return found

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tradewind.cli", *args, "--state-address", self.address],
            capture_output=True,
            text=True,
            timeout=60,
            env={**child_environment(), "TRADEWIND_HOME": str(self.home)},
            check=True,
        )
        return result.stdout


def start(
    tmp_path: Path,
    *flags: str,
    port_base: int | None = None,
    home: Path | None = None,
    env: dict[str, str] | None = None,
) -> Standalone:
    dags = tmp_path / "dags"
    dags.mkdir(exist_ok=True)
    (dags / "sleeper.py").write_text(textwrap.dedent(SLEEPER_DAG))
    base = port_base or free_port_base()
    home = home or tmp_path / f"home-{base}-{len(list(tmp_path.iterdir()))}"
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
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**child_environment(), **(env or {})},
    )
    return Standalone(process, base, home, [])


def alive(pids: set[int]) -> set[int]:
    """The pids that are still running (not gone, not zombies)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def sleeping_task() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip() == SLEEP.encode():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def running_sleep(tmp_path: Path) -> Iterator[tuple[Standalone, set[int]]]:
    """A standalone whose executor runs the sleeper DAG's `sleep` task."""
    with start(tmp_path) as suite:
        suite.read_until("Ready.")
        assert_eventually(lambda: "sleeper" in suite.cli("dags", "list"), timeout=60)
        suite.cli("dags", "trigger", "sleeper")
        sleeps = assert_eventually(sleeping_task, timeout=60, message="the sleep task runs")
        yield suite, suite.descendants() | sleeps


@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_stopping_the_supervisor_leaves_no_process_of_the_suite_or_its_tasks(
    running_sleep: tuple[Standalone, set[int]], how: str
) -> None:
    suite, started = running_sleep
    assert len(started) >= 8  # five services, two fork servers, the try and its sleep
    suite.process.send_signal(getattr(signal, how))
    out, _ = suite.finish()
    assert_eventually(
        lambda: not alive(started), timeout=90, message=f"every process gone after {how}"
    )
    if how != "SIGKILL":
        assert suite.process.returncode == 0
        assert "stopped" in out


@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
def test_the_record_says_the_try_was_terminated_by_the_shutdown(tmp_path: Path) -> None:
    with start(tmp_path) as suite:
        suite.read_until("Ready.")
        assert_eventually(lambda: "sleeper" in suite.cli("dags", "list"), timeout=60)
        suite.cli("dags", "trigger", "sleeper", "--run-id", "r1")
        assert_eventually(sleeping_task, timeout=60)
    assert suite.process.returncode == 0
    # A new supervisor on the same home reads the same database.
    with start(tmp_path, port_base=suite.port_base, home=suite.home) as again:
        again.read_until("Ready.")
        log = again.cli("tasks", "logs", "sleeper", "r1", "nap")
        assert "terminated: the executor is shutting down" in log
        assert "TaskTerminated" in log  # the task itself was told, and its on_kill ran
        assert "failed" in again.cli("runs", "show", "sleeper", "r1")


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_closed_output_pipe_stops_everything(tmp_path: Path) -> None:
    with start(tmp_path) as suite:
        assert suite.process.stdout is not None
        first = suite.process.stdout.readline()
        assert "standalone" in first
        started = suite.descendants()
        suite.process.stdout.close()  # `tradewind standalone | head -1`
        assert suite.process.wait(timeout=90) != 0
        _, err = suite.finish()
        assert "output was closed" in err
    assert_eventually(lambda: not alive(started), timeout=60)


@pytest.mark.timeout(180)
def test_a_second_standalone_on_ports_in_use_exits_at_once_naming_the_port(
    tmp_path: Path,
) -> None:
    with start(tmp_path) as first:
        first.read_until("Ready.")
        begun = time.monotonic()
        with start(tmp_path, port_base=first.port_base) as second:
            out, err = second.process.communicate(timeout=60)
        assert second.process.returncode == 1
        assert time.monotonic() - begun < 30
        assert f"cannot listen on 127.0.0.1:{first.port_base}: Address already in use" in err
        assert "Ready." not in out


@pytest.mark.timeout(120)
def test_a_missing_dag_folder_is_a_warning_on_the_console(tmp_path: Path) -> None:
    with start(tmp_path, "--dags-folder", str(tmp_path / "nowhere")) as suite:
        suite.read_until("Ready.")
        assert any("does not exist" in line and "nowhere" in line for line in suite.lines)
        # The banner reads each service's own address from the service.
        ports = {
            line.split()[0]: line.split()[1].rsplit(":", 1)[1]
            for line in suite.lines
            if line.startswith("  ")
        }
        base = suite.port_base
        assert ports == {
            "state": str(base),
            "scheduler": str(base + 1),
            "executor": str(base + 2),
            "dag-processor": str(base + 3),
            "triggerer": str(base + 4),
        }


POOLED_DAG = """
from datetime import datetime
from tradewind import DAG, BashOperator

with DAG("pooled", start_date=datetime(2026, 1, 1), schedule=None):
    BashOperator(task_id="waits", bash_command="echo done", pool="does_not_exist")
"""


@pytest.mark.timeout(240)
def test_a_task_naming_a_missing_pool_shows_as_a_dag_warning_until_the_pool_exists(
    tmp_path: Path,
) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "pooled.py").write_text(textwrap.dedent(POOLED_DAG))
    with start(tmp_path) as suite:
        suite.read_until("Ready.")
        assert_eventually(lambda: "does_not_exist" in suite.cli("dag-warnings", "list"), timeout=60)
        listed = suite.cli("dags", "list")
        pooled_row = next(line for line in listed.splitlines() if line.startswith("pooled "))
        assert pooled_row.split()[-1] == "1"  # the warnings column
        assert "references non-existent pools" in suite.cli("dags", "show", "pooled")
        suite.cli("dags", "trigger", "pooled", "--run-id", "r1")
        assert_eventually(
            lambda: "scheduled" in suite.cli("runs", "show", "pooled", "r1"), timeout=60
        )
        waiting = subprocess.run(
            [
                sys.executable,
                "-m",
                "tradewind.cli",
                "tasks",
                "logs",
                "pooled",
                "r1",
                "waits",
                "--state-address",
                suite.address,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**child_environment(), "TRADEWIND_HOME": str(suite.home)},
            check=True,
        )
        assert "the task instance is scheduled" in waiting.stderr
        assert "DAG warning: Dag 'pooled' references non-existent pools" in waiting.stderr
        suite.cli("pools", "set", "does_not_exist", "1")
        assert_eventually(lambda: "pooled" not in suite.cli("dag-warnings", "list"), timeout=30)
        assert_eventually(
            lambda: "success" in suite.cli("runs", "show", "pooled", "r1").split("\n\n")[0],
            timeout=60,
            message="the waiting task runs once its pool exists",
        )


def cli_as(suite: Standalone, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI against ``suite`` with ``home`` as its TRADEWIND_HOME, unchecked."""
    return subprocess.run(
        [sys.executable, "-m", "tradewind.cli", *args, "--state-address", suite.address],
        capture_output=True,
        text=True,
        timeout=60,
        env={**child_environment(), "TRADEWIND_HOME": str(home)},
        check=False,
    )


def command_lines_and_environments(pids: set[int]) -> dict[int, tuple[bytes, bytes]]:
    found = {}
    for pid in pids:
        try:
            found[pid] = (
                Path(f"/proc/{pid}/cmdline").read_bytes(),
                Path(f"/proc/{pid}/environ").read_bytes(),
            )
        except OSError:
            continue
    return found


@pytest.mark.timeout(240)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_authentication_is_on_with_generated_tokens_the_cli_finds(tmp_path: Path) -> None:
    database = tmp_path / "db-named-like-a-secret-4f1c.db"
    process_env = {"TRADEWIND_DATABASE_URL": f"sqlite:///{database}"}
    with start(tmp_path, "--api-tokens", "extra-token-9c2e", env=process_env) as suite:
        suite.read_until("Ready.")
        auth = suite.home / "auth"
        assert any("Authentication on" in line and str(auth) in line for line in suite.lines)
        assert auth.stat().st_mode & 0o777 == 0o700
        assert suite.home.stat().st_mode & 0o777 == 0o700
        for log in (suite.home / "logs").iterdir():
            assert log.stat().st_mode & 0o777 == 0o600, log
        for token_file in auth.iterdir():
            assert token_file.stat().st_mode & 0o777 == 0o600
        # The CLI finds the API token in the home; from another home it has none.
        assert_eventually(lambda: "sleeper" in suite.cli("dags", "list"), timeout=60)
        stranger = cli_as(suite, tmp_path / "empty-home", "dags", "list")
        assert stranger.returncode != 0
        assert "TRADEWIND_HOME" in stranger.stderr
        extra = subprocess.run(
            [sys.executable, "-m", "tradewind.cli", "dags", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **child_environment(),
                "TRADEWIND_HOME": str(tmp_path / "empty-home"),
                "TRADEWIND_STATE_ADDRESS": suite.address,
                "TRADEWIND_STATE_TOKEN": "extra-token-9c2e",
            },
            check=False,
        )
        assert extra.returncode == 0, extra.stderr
        # The API token may not reveal connection secrets.
        suite.cli("connections", "add", "db", "--conn-uri", "postgresql://u:hunter2@h/d")
        revealed = cli_as(suite, suite.home, "connections", "get", "db", "--reveal")
        assert revealed.returncode != 0
        assert "hunter2" not in revealed.stdout
        # No command line holds the database URL; only the state service's environment does
        # (the others know the file's path alone: task code must not reach it).
        secret = f"sqlite:///{database}".encode()
        seen = command_lines_and_environments(suite.descendants())
        assert len(seen) >= 5
        assert not [pid for pid, (cmdline, _) in seen.items() if secret in cmdline]
        holders = [pid for pid, (_, environ) in seen.items() if secret in environ]
        assert len(holders) == 1
        assert b"services.state" in seen[holders[0]][0]
        assert database.exists()
