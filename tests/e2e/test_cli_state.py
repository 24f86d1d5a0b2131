"""`tradewind db migrate` and `tradewind state`, run as a person would."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers.databases import TemplateDatabases
from tests.helpers.processes import REPO_ROOT, ServiceProcess, child_environment, free_port

TRADEWIND = [sys.executable, "-m", "tradewind.cli"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADEWIND, *args],
        cwd=REPO_ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_state_refuses_an_unmigrated_database_then_serves_after_migrate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    refused = run_cli("state", "--home", str(home), "--port", str(port), "--metrics-port", "0")
    assert refused.returncode == 2
    assert "run `tradewind db migrate`" in refused.stderr.strip().splitlines()[-1]

    migrated = run_cli("db", "migrate", "--home", str(home))
    assert migrated.returncode == 0, migrated.stderr
    assert "is at revision" in migrated.stdout

    state = ServiceProcess(
        args=[
            "-m",
            "tradewind.cli",
            "state",
            "--home",
            str(home),
            "--port",
            str(port),
            "--metrics-port",
            "0",
        ],
        port=port,
    ).start()
    try:
        state.wait_serving()
        state.signal(signal.SIGTERM)
        assert state.wait(timeout=20) == 0
    finally:
        state.stop()


def test_db_migrate_on_postgresql(backend: str, template_databases: TemplateDatabases) -> None:
    url = template_databases.new_url(backend)
    result = run_cli("db", "migrate", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout


def test_db_migrate_reports_a_bad_url_in_one_line() -> None:
    result = run_cli("db", "migrate", "--database-url", "mysql://nowhere/db")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("tradewind db migrate: error: unsupported database")
    )
