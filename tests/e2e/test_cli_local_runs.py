"""``tradewind dags test`` and ``tradewind tasks test`` as a person runs them: no service at all.

Real CLI processes on DAG files written the way Airflow's docs write them; the checks are the
final states the scheduler's rules give, what the tasks printed, and the exit status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.processes import REPO_ROOT, child_environment

TRADEWIND = [sys.executable, "-m", "tradewind.cli"]
EXAMPLES = REPO_ROOT / "examples" / "dags"

FLAKY_DAG = """
from datetime import datetime
from tradewind import dag, task, Variable


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, params={"size": 1})
def local_flaky():
    @task(retries=1)
    def greet(**context):
        print(f"hello {Variable.get('who')} from try {context['ti'].try_number}")
        if context["ti"].try_number == 1:
            raise ValueError("first try fails")
        return 7

    @task
    def double(n: int) -> int:
        return n * 2

    @task
    def never():
        raise RuntimeError("boom")

    @task(trigger_rule="all_done")
    def cleanup():
        print("cleaning up")

    @task
    def show_size(**context):
        print(f"size is {context['params']['size']}")

    double(greet()) >> never() >> cleanup()
    show_size()


local_flaky()


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def local_failing():
    @task
    def first():
        return 1

    @task
    def last(value):
        raise RuntimeError(f"no good: {value}")

    last(first())


local_failing()
"""


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADEWIND, *args],
        cwd=REPO_ROOT,
        env=child_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "local_flaky.py").write_text(textwrap.dedent(FLAKY_DAG))
    (folder / "broken.py").write_text("import nowhere_to_be_found\n")
    (tmp_path / "variables.json").write_text(json.dumps({"who": "tradewind"}))
    return folder


def test_dags_test_runs_an_example_dag_to_success_with_its_output(tmp_path: Path) -> None:
    result = run_cli(
        "dags", "test", "example_etl", "--dags-folder", str(EXAMPLES), "-c", '{"multiplier": 3}'
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--- extract: try 1 started" in result.stdout
    assert "extracted 3 orders" in result.stdout  # what the task printed, in order
    assert result.stdout.index("--- extract") < result.stdout.index("--- transform")
    assert result.stdout.rstrip().endswith(": success")
    rows = [
        line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("extract ", "transform ", "load "))
    ]
    assert rows == [
        ["extract", "success", "1"],
        ["transform", "success", "1"],
        ["load", "success", "1"],
    ]


def test_dags_test_follows_retries_and_trigger_rules(dags_folder: Path, tmp_path: Path) -> None:
    result = run_cli(
        "dags",
        "test",
        "local_flaky",
        "--dags-folder",
        str(dags_folder),
        "--variables",
        str(tmp_path / "variables.json"),
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)  # the document alone on stdout
    # Airflow's rule: the run's state follows its leaves, and the all_done cleanup succeeded.
    assert document["state"] == "success"
    assert document["task_states"] == {
        "greet": "success",
        "double": "success",
        "never": "failed",
        "cleanup": "success",
        "show_size": "success",
    }
    assert document["xcoms"]["double"] == {"return_value": 14}
    assert "hello tradewind from try 1" in result.stderr
    assert "hello tradewind from try 2" in result.stderr
    assert "--- greet: try 1 ended up_for_retry: first try fails" in result.stderr
    assert "cleaning up" in result.stderr


def test_a_run_whose_leaf_fails_exits_1_naming_the_failed_task(dags_folder: Path) -> None:
    result = run_cli("dags", "test", "local_failing", "--dags-folder", str(dags_folder))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--- last: try 1 ended failed: no good: 1" in result.stdout
    assert result.stdout.rstrip().endswith(": failed (failed: last)")


def test_tasks_test_runs_one_task_alone_with_task_params(dags_folder: Path, tmp_path: Path) -> None:
    variables = str(tmp_path / "variables.json")
    args = ["--dags-folder", str(dags_folder), "--variables", variables]
    failed = run_cli("tasks", "test", "local_flaky", "greet", *args)
    assert failed.returncode == 1  # its first try fails, and tasks test makes one try
    assert "hello tradewind from try 1" in failed.stdout
    assert "--- greet: try 1 ended failed: first try fails" in failed.stdout
    sized = run_cli("tasks", "test", "local_flaky", "show_size", *args, "-t", '{"size": 5}')
    assert sized.returncode == 0, sized.stdout + sized.stderr
    assert "size is 5" in sized.stdout
    extract = run_cli("tasks", "test", "example_etl", "extract", "--dags-folder", str(EXAMPLES))
    assert extract.returncode == 0, extract.stdout + extract.stderr
    assert 'XCom return_value: [{"id": 1, "amount": 10.5}' in extract.stdout


def test_unknown_dags_and_tasks_are_one_line_naming_what_exists(dags_folder: Path) -> None:
    missing = run_cli("dags", "test", "nope", "--dags-folder", str(dags_folder))
    assert missing.returncode == 1
    (line,) = missing.stderr.strip().splitlines()
    assert line.startswith(
        f"tradewind dags test: error: no DAG 'nope' in {dags_folder} (2 DAG files)"
    )
    assert "1 failed to import, e.g. broken.py" in line
    task = run_cli("tasks", "test", "local_flaky", "nope", "--dags-folder", str(dags_folder))
    assert task.returncode == 1
    assert task.stderr.strip() == (
        "tradewind tasks test: error: DAG 'local_flaky' has no task 'nope'"
        " (its tasks: cleanup, double, greet, never, show_size)"
    )
    folder = run_cli("dags", "test", "local_flaky", "--dags-folder", "/nonexistent/dags")
    assert folder.returncode == 1
    assert "no DAG folder at /nonexistent/dags" in folder.stderr


def test_dags_test_names_each_map_index_and_counts_them() -> None:
    result = run_cli(
        "dags",
        "test",
        "example_dynamic_task_mapping",
        "--conf",
        '{"count": 3}',
        "--dags-folder",
        str(EXAMPLES),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--- double[2]: try 1 ended success" in result.stdout
    (double,) = [line.split() for line in result.stdout.splitlines() if line.startswith("double ")]
    assert double == ["double", "success", "3", "3"]


def test_dags_test_loads_a_users_timetable_from_the_plugins_folder(tmp_path: Path) -> None:
    plugins, dags = tmp_path / "plugins", tmp_path / "dags"
    plugins.mkdir()
    dags.mkdir()
    (plugins / "daily_at_nine.py").write_text(
        textwrap.dedent(
            """
            from datetime import timedelta
            from tradewind import DataInterval, Timetable

            class DailyAtNine(Timetable):
                def infer_manual_data_interval(self, *, run_after):
                    end = run_after.replace(hour=9, minute=0, second=0, microsecond=0)
                    return DataInterval(end - timedelta(days=1), end)
            """
        )
    )
    (dags / "nine.py").write_text(
        textwrap.dedent(
            """
            from datetime import datetime, timezone
            from daily_at_nine import DailyAtNine
            from tradewind import DAG, task

            with DAG("nine", schedule=DailyAtNine(), start_date=datetime(2026, 1, 1,
                     tzinfo=timezone.utc)):
                @task
                def show(data_interval_start=None, data_interval_end=None):
                    return [data_interval_start.isoformat(), data_interval_end.isoformat()]

                show()
            """
        )
    )
    refused = run_cli("dags", "test", "nine", "--dags-folder", str(dags))
    assert refused.returncode != 0
    assert "daily_at_nine" in refused.stdout + refused.stderr
    result = run_cli(
        "dags", "test", "nine", "2026-03-05T13:00:00+00:00", "--dags-folder", str(dags),
        "--plugins-folder", str(plugins), "-o", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert shown["state"] == "success", shown
    # The run's data interval is the one the user's timetable infers for a manual run.
    assert json.dumps(shown).count("2026-03-04T09:00:00+00:00") >= 1
