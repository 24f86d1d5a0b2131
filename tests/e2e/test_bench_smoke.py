"""The benchmark harness still runs: a tiny W2 on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.processes import REPO_ROOT, child_environment


@pytest.mark.timeout(180)
def test_a_tiny_chain_benchmark_prints_its_figures() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--workloads",
            "W2",
            "--backends",
            "sqlite",
            "--repeats",
            "1",
            "--length",
            "3",
        ],
        cwd=REPO_ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = {row["figure"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert set(figures) >= {"wall", "hop_median_ms", "hop_p95_ms", "task_duration_median_ms"}
    assert figures["wall"]["value"] > 0
    assert "hop_median_ms" in result.stderr  # the summary table
