"""The README's first command, ``./dev demo``, as a new user runs it (its script, once set up).

It must start every service, run ``example_etl`` to success, stop the services and leave
nothing behind in the temporary directory unless told to keep its home folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.processes import REPO_ROOT, child_environment

DEMO_SECONDS = 240


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), *args],
        env=child_environment({"TMPDIR": str(tmp_path)}),
        capture_output=True,
        text=True,
        timeout=DEMO_SECONDS,
        check=False,
    )


def test_the_demo_runs_a_dag_to_success_and_removes_its_home(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Ready." in result.stdout
    assert "example_etl" in result.stdout
    assert "success" in result.stdout
    assert list(tmp_path.iterdir()) == [], "the demo left files behind"


def test_keep_home_keeps_the_demo_database_and_logs(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--keep-home")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (home,) = tmp_path.iterdir()
    assert f"Home folder of this demo (database, logs): {home}" in result.stdout
    assert (home / "logs").is_dir()
