"""The CLI against the whole suite: a real DAG file, parsed by the DAG processor, scheduled by
the scheduler and run by the executor, each a separate process, on both backends.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.test_cli_commands import (
    as_json,
    finished,
    ok,
    run_cli,
    start_cli,
    table_rows,
)
from tests.helpers.databases import BACKENDS, TemplateDatabases, require_postgres
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import start_state
from tradewind.client import Client, NotFoundError

#: How long the DAG processor may take to register the DAG files.
PARSE_WAIT_SECONDS = 30

DAG_FILE = textwrap.dedent(
    """
    import time
    from datetime import datetime

    from tradewind import DAG, Label, task

    with DAG("cli_suite_etl", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def extract() -> int:
            print("extracted 3 rows")
            return 3

        @task
        def load(rows: int) -> None:
            print(f"loaded {rows} rows")

        load(extract())

    with DAG("cli_suite_fails", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def explode() -> None:
            raise ValueError("the source is empty")

        explode()

    with DAG("cli_suite_slow", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def count() -> None:
            for n in range(3):
                print(f"counted {n}", flush=True)
                time.sleep(0.3)

        count()

    with DAG(
        "cli_suite_docs",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        doc_md="Builds the **daily report**.",
    ):

        @task
        def zeta() -> None:
            pass

        @task
        def alpha() -> None:
            pass

        zeta() >> Label("when ready") >> alpha()


    with DAG("cli_suite_mapped", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def square(x: int) -> int:
            print(f"squaring {x}")
            return x * x

        square.expand(x=[1, 2, 3])


    with DAG("cli_suite_state", schedule=None, start_date=datetime(2026, 1, 1)):

        @task
        def keep(**context) -> None:
            context["task_state_store"].set("cursor", {"offset": 40})

        keep()
    """
)
DAG_IDS = (
    "cli_suite_etl",
    "cli_suite_fails",
    "cli_suite_slow",
    "cli_suite_docs",
    "cli_suite_mapped",
    "cli_suite_state",
)


@dataclass
class Suite:
    """Every service, running."""

    state: ServiceProcess
    others: list[ServiceProcess]

    @property
    def address(self) -> str:
        return self.state.address

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.args[1]} ---\n{p.output()[-10000:]}" for p in [self.state, *self.others]
        )


async def until_registered(address: str) -> None:
    """Wait until the DAG processor has registered every DAG of the file."""
    deadline = time.monotonic() + PARSE_WAIT_SECONDS
    async with Client(address) as client:
        for dag_id in DAG_IDS:
            while True:
                try:
                    await client.get_dag(dag_id)
                    break
                except NotFoundError:
                    assert time.monotonic() < deadline, f"{dag_id} was never registered"
                    await asyncio.sleep(0.1)


@pytest.fixture(scope="module", params=BACKENDS)
def suite(
    request: pytest.FixtureRequest,
    template_databases: TemplateDatabases,
    postgres_status: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Suite]:
    backend = str(request.param)
    if backend == "postgresql":
        require_postgres(postgres_status)
    folder = tmp_path_factory.mktemp("dags")
    (folder / "suite.py").write_text(DAG_FILE)
    state = start_state(template_databases.new_url(backend))
    running = Suite(state=state, others=[])
    failures_before = request.session.testsfailed
    try:
        for module, flags in (
            ("dag_processor", ["--dags-folder", str(folder), "--scan-interval", "0.5"]),
            ("scheduler", ["--sweep-interval", "1"]),
            ("executor", ["--dags-folder", str(folder)]),
        ):
            running.others.append(start_service(module, state.address, *flags))
        asyncio.run(until_registered(state.address))
        yield running
    finally:
        for process in reversed([state, *running.others]):
            process.stop()
        if request.session.testsfailed > failures_before:
            print(running.logs())


def test_trigger_wait_runs_a_dag_file_to_success(suite: Suite) -> None:
    result = run_cli(
        "dags",
        "trigger",
        "cli_suite_etl",
        "--run-id",
        "etl_1",
        "--conf",
        '{"day": 1}',
        "--wait",
        "--timeout",
        "60",
        "-o",
        "json",
        address=suite.address,
    )
    document = json.loads(ok(result))
    assert document["dag_run"]["state"] == "success"
    assert document["dag_run"]["conf"] == {"day": 1}
    assert {
        (ti["task_id"], ti["state"], ti["try_number"]) for ti in document["task_instances"]
    } == {
        ("extract", "success", 1),
        ("load", "success", 1),
    }
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("cli_suite_etl etl_1: success | 2 success")
    )

    log = ok(run_cli("tasks", "logs", "cli_suite_etl", "etl_1", "load", address=suite.address))
    assert "stdout - loaded 3 rows" in log
    runs = as_json(run_cli("runs", "list", "cli_suite_etl", "-o", "json", address=suite.address))
    assert [(r["run_id"], r["state"]) for r in runs] == [("etl_1", "success")]

    async def xcoms() -> list[tuple[str, str, object]]:
        async with Client(suite.address) as client:
            return [
                (x.task_id, x.key, x.value) async for x in client.xcoms("cli_suite_etl", "etl_1")
            ]

    assert ("extract", "return_value", 3) in asyncio.run(xcoms())


def test_dags_show_gives_public_operator_names_the_docs_and_dependency_order(
    suite: Suite,
) -> None:
    shown = ok(run_cli("dags", "show", "cli_suite_docs", address=suite.address))
    assert "Builds the **daily report**." in shown
    rows = table_rows(shown.split("\n\n")[-1])
    assert [(row[0], row[1]) for row in rows] == [("zeta", "@task"), ("alpha", "@task")]
    (alpha,) = [line for line in shown.splitlines() if line.startswith("alpha ")]
    assert "zeta [when ready]" in alpha  # the edge's label


def test_trigger_wait_exits_1_when_the_run_fails(suite: Suite) -> None:
    result = run_cli(
        "dags",
        "trigger",
        "cli_suite_fails",
        "--run-id",
        "boom",
        "--wait",
        "--timeout",
        "60",
        address=suite.address,
    )
    assert result.returncode == 1, result.stderr
    assert table_rows(result.stdout.split("\n\n")[1])[0][:3] == ["explode", "failed", "1"]
    assert result.stderr.strip().splitlines()[-1] == (
        "tradewind dags trigger: error: run 'boom' of DAG 'cli_suite_fails' failed:"
        " task(s) explode failed"
    )
    # The first failed task's last log lines come with the error.
    assert "last lines of the log of 'explode':" in result.stderr
    assert "ValueError: the source is empty" in result.stderr
    log = ok(run_cli("tasks", "logs", "cli_suite_fails", "boom", "explode", address=suite.address))
    assert "ValueError: the source is empty" in log


async def test_tasks_logs_follow_prints_a_running_try_as_it_writes(suite: Suite) -> None:
    ok(run_cli("dags", "trigger", "cli_suite_slow", "--run-id", "slow", address=suite.address))
    following = start_cli(
        "tasks", "logs", "cli_suite_slow", "slow", "count", "--follow", address=suite.address
    )
    result = await finished(following)
    printed = [line for line in ok(result).splitlines() if "stdout - " in line]
    assert [line.split("stdout - ")[1] for line in printed] == [
        "counted 0",
        "counted 1",
        "counted 2",
    ]


def test_the_dag_file_is_listed_without_import_errors(suite: Suite) -> None:
    dags = as_json(run_cli("dags", "list", "-o", "json", address=suite.address))
    assert {d["dag_id"] for d in dags} == set(DAG_IDS)
    assert {d["relative_fileloc"] for d in dags} == {"suite.py"}
    assert as_json(run_cli("import-errors", "-o", "json", address=suite.address)) == []


def test_mapped_instances_are_listed_logged_and_cleared_by_map_index(suite: Suite) -> None:
    result = run_cli(
        "dags",
        "trigger",
        "cli_suite_mapped",
        "--run-id",
        "m1",
        "--wait",
        "--timeout",
        "60",
        address=suite.address,
    )
    rows = table_rows(ok(result).split("\n\n")[1])
    assert [row[:3] for row in rows] == [
        ["square[0]", "success", "1"],
        ["square[1]", "success", "1"],
        ["square[2]", "success", "1"],
    ]
    log = ok(
        run_cli(
            "tasks",
            "logs",
            "cli_suite_mapped",
            "m1",
            "square",
            "--map-index",
            "1",
            address=suite.address,
        )
    )
    assert "stdout - squaring 2" in log
    assert "squaring 1" not in log
    missing = run_cli("tasks", "logs", "cli_suite_mapped", "m1", "square", address=suite.address)
    assert missing.returncode != 0
    assert "is mapped: name a map index from 0 to 2" in missing.stderr
    cleared = as_json(
        run_cli(
            "tasks",
            "clear",
            "cli_suite_mapped",
            "-r",
            "m1",
            "-t",
            "square",
            "-m",
            "2",
            "--yes",
            "-o",
            "json",
            address=suite.address,
        )
    )
    assert [(ti["task_id"], ti["map_index"]) for ti in cleared] == [("square", 2)]


def test_tasks_state_shows_what_a_task_kept_in_its_task_state_store(suite: Suite) -> None:
    ok(
        run_cli(
            "dags",
            "trigger",
            "cli_suite_state",
            "--run-id",
            "s1",
            "--wait",
            "--timeout",
            "60",
            address=suite.address,
        )
    )
    kept = as_json(
        run_cli(
            "tasks", "state", "cli_suite_state", "s1", "keep", "-o", "json", address=suite.address
        )
    )
    assert [(entry["key"], entry["value"]) for entry in kept] == [("cursor", {"offset": 40})]
    table = ok(run_cli("tasks", "state", "cli_suite_state", "s1", "keep", address=suite.address))
    (row,) = [line for line in table.splitlines() if line.startswith("cursor ")]
    assert '{"offset": 40}' in row
