"""The user commands (dags, runs, tasks, variables, connections, pools, import-errors), run as a
person would: the real CLI in a subprocess against a real state service on both backends.

DAGs are registered without the SDK (tests/helpers/dags.py) and runs are played by hand, the
way a scheduler and an executor would drive them (tests/helpers/flows.py), so each command's
output is checked against states the test chose. tests/e2e/test_cli_suite.py runs the same
commands against the real scheduler, executor and DAG processor.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from protos.dag_processor.v1 import request_response_pb2 as processor_rr
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.executor.v1 import request_response_pb2 as executor_rr
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from protos.scheduler.v1 import request_response_pb2 as scheduler_rr
from tests.helpers.dags import make_dag, register_dags, seconds
from tests.helpers.flows import RUN, TI, claim, complete, lease, move, start_run, unique
from tests.helpers.processes import REPO_ROOT, ServiceProcess, child_environment, free_port
from tests.helpers.state import API_TOKEN, StateClient, state_client
from tradewind.client import (
    AlreadyExistsError,
    Client,
    DagRunState,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    TryOutcome,
)

TRADEWIND = [sys.executable, "-m", "tradewind.cli"]
#: How long a CLI run may take before the test gives up on it.
CLI_TIMEOUT_SECONDS = 60
#: How long an unreachable server may take to be reported.
UNREACHABLE_SECONDS = 5


# ---- running the CLI ----


def cli_environment(address: str | None) -> dict[str, str]:
    """The CLI's environment: the repository importable, the state service's address set."""
    return child_environment({"TRADEWIND_STATE_ADDRESS": address} if address else None)


def run_cli(
    *args: str, address: str | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``tradewind <args>`` to its end."""
    return subprocess.run(
        [*TRADEWIND, *args],
        cwd=REPO_ROOT,
        env=cli_environment(address),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def start_cli(*args: str, address: str) -> subprocess.Popen[str]:
    """Start ``tradewind <args>`` and return at once, for commands that wait or follow."""
    return subprocess.Popen(
        [*TRADEWIND, *args],
        cwd=REPO_ROOT,
        env=cli_environment(address),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def finished(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Wait (without blocking the event loop) for a started CLI to end."""
    stdout, stderr = await asyncio.to_thread(process.communicate, timeout=CLI_TIMEOUT_SECONDS)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have succeeded."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The one JSON document a successful ``--output json`` command printed."""
    return json.loads(ok(result))


def error_line(result: subprocess.CompletedProcess[str], command: str, status: int = 1) -> str:
    """The message of a command that must have failed with one error line on stderr."""
    assert result.returncode == status, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    prefix = f"tradewind {command}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0].removeprefix(prefix)


def fields(text: str) -> dict[str, str]:
    """The ``name: value`` lines that describe one record."""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def refused(result: subprocess.CompletedProcess[str], command: str) -> None:
    """The command asked its question, read no yes, and changed nothing."""
    assert result.returncode == 1, result.stderr
    question, error = result.stderr.strip().splitlines()
    assert question.rstrip().endswith("[y/N]")
    assert error.startswith(f"tradewind {command}: error: aborted: nothing was changed")


def table_rows(text: str) -> list[list[str]]:
    """The data rows of a printed table, split into cells (tables here have no blank cells)."""
    lines = text.strip().splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "} and "-" in line)
    return [line.split() for line in lines[rule + 1 :]]


# ---- the state service, and driving runs by hand ----


@pytest.fixture
async def stubs(state_service: ServiceProcess) -> AsyncIterator[StateClient]:
    """Stubs of the module's state service, for setting the scene and checking results."""
    async with state_client(state_service.address) as client:
        yield client


@pytest.fixture
def address(state_service: ServiceProcess) -> str:
    """Where the CLI reaches the module's state service."""
    return state_service.address


async def registered(stubs: StateClient, tasks: dict[str, list[str]], **options: Any) -> str:
    """Register a DAG with a fresh id and ``tasks`` (each task's upstream ids); return its id."""
    dag_id = unique("cli")
    await register_dags(stubs, [make_dag(dag_id, tasks, **options)])
    return dag_id


async def dag_run(stubs: StateClient, dag_id: str, run_id: str) -> run_pb2.DagRun:
    response = await stubs.api.GetDagRun(
        api_rr.GetDagRunRequest(key=run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id))
    )
    return response.dag_run


async def until_triggered(stubs: StateClient, dag_id: str, run_id: str) -> run_pb2.DagRun:
    """Wait until the CLI under test has created the run."""
    deadline = time.monotonic() + CLI_TIMEOUT_SECONDS
    while True:
        found = [
            run
            for run in (
                await stubs.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=dag_id))
            ).dag_runs
            if run.run_id == run_id
        ]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"run {run_id} never appeared"
        await asyncio.sleep(0.05)


#: The one scheduler identity these tests drive runs as: a new identity per test would stay
#: live for its claim duration and shrink the fair share of runs the next one may claim.
SCHEDULER = unique("scheduler")


async def claimed(stubs: StateClient, scheduler: str, run: run_pb2.DagRun) -> None:
    """Claim runs as ``scheduler`` until ``run`` is among them, as its next passes would."""
    deadline = time.monotonic() + CLI_TIMEOUT_SECONDS
    key = (run.dag_id, run.run_id)
    while key not in (keys := [(k.dag_id, k.run_id) for k in await claim(stubs, scheduler)]):
        assert time.monotonic() < deadline, f"{key} never claimed; the claims were {keys}"
        await asyncio.sleep(0.1)


async def running_try(
    stubs: StateClient, run: run_pb2.DagRun, task_id: str, scheduler: str = ""
) -> tuple[str, executor_pb2.LeasedTry]:
    """Claim and start ``run`` (if needed), queue ``task_id`` and lease it: a running try.

    Returns the executor's id and the leased try.
    """
    scheduler = scheduler or SCHEDULER
    await claimed(stubs, scheduler, run)
    if run.state == RUN.DAG_RUN_STATE_QUEUED:
        started = await start_run(stubs, scheduler, run)
        assert started.applied, started
    run = await dag_run(stubs, run.dag_id, run.run_id)
    (queued,) = await move(stubs, scheduler, run, [task_id], TI.TASK_INSTANCE_STATE_QUEUED)
    assert queued.applied, queued
    executor = unique("executor")
    (leased,) = await lease(stubs, executor, queues=["default"])
    assert leased.lease.key.task_id == task_id
    return executor, leased


async def end_run(stubs: StateClient, scheduler: str, dag_id: str, run_id: str, state: int) -> None:
    """End a running run the way the scheduler that claimed it does once its tasks are done."""
    run = await dag_run(stubs, dag_id, run_id)
    response = await stubs.scheduler.ApplyTransitions(
        scheduler_rr.ApplyTransitionsRequest(
            scheduler_id=scheduler,
            dag_run_transitions=[
                scheduler_pb2.DagRunTransition(
                    key=run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id),
                    expected_state=RUN.DAG_RUN_STATE_RUNNING,
                    new_state=state,  # type: ignore[arg-type]
                    expected_run_generation=run.generation,
                )
            ],
        )
    )
    assert response.dag_run_outcomes[0].applied, response


async def play_run(stubs: StateClient, dag_id: str, run_id: str, outcome: int, end: int) -> None:
    """Play the one-task run ``run_id`` to its end: the try ends with ``outcome``."""
    run = await until_triggered(stubs, dag_id, run_id)
    scheduler = SCHEDULER
    executor, leased = await running_try(stubs, run, "work", scheduler)
    await complete(stubs, executor, leased, outcome)
    await end_run(stubs, scheduler, dag_id, run_id, end)


async def append_logs(
    stubs: StateClient, executor: str, leased: executor_pb2.LeasedTry, index: int, *lines: str
) -> None:
    await stubs.executor.AppendTaskLogs(
        executor_rr.AppendTaskLogsRequest(
            executor_id=executor,
            chunks=[
                executor_pb2.TryLogChunk(
                    lease=leased.lease,
                    chunk_index=index,
                    lines=[run_pb2.LogLine(message=line) for line in lines],
                )
            ],
        )
    )


async def ti_state(stubs: StateClient, dag_id: str, run_id: str, task_id: str) -> int:
    response = await stubs.api.GetTaskInstance(
        api_rr.GetTaskInstanceRequest(
            key=run_pb2.TaskInstanceKey(dag_id=dag_id, run_id=run_id, task_id=task_id)
        )
    )
    return int(response.task_instance.state)


# ---- dags ----


async def test_dags_list_show_pause_and_unpause(stubs: StateClient, address: str) -> None:
    tagged = await registered(stubs, {"extract": [], "load": ["extract"]}, tags=["etl"])
    paused = await registered(stubs, {"only": []}, paused=True, cron="0 0 * * *")

    rows = {row[0]: row for row in table_rows(ok(run_cli("dags", "list", address=address)))}
    assert rows[tagged][1:3] == ["no", "None"]
    assert rows[paused][1:3] == ["yes", "0"]  # the cron "0 0 * * *" splits into cells
    listed = {
        d["dag_id"]: d for d in as_json(run_cli("dags", "list", "-o", "json", address=address))
    }
    assert listed[tagged]["is_paused"] is False
    assert listed[tagged]["tags"] == ["etl"]
    assert listed[paused]["schedule"] == "0 0 * * *"
    only_etl = as_json(run_cli("dags", "list", "--tag", "etl", "-o", "json", address=address))
    assert tagged in {d["dag_id"] for d in only_etl}
    assert paused not in {d["dag_id"] for d in only_etl}

    shown = ok(run_cli("dags", "show", tagged, address=address))
    assert fields(shown)["dag_id"] == tagged
    assert [row[:2] for row in table_rows(shown.split("\n\n")[1])] == [
        ["extract", "PythonOperator"],
        ["load", "PythonOperator"],
    ]
    dag = as_json(run_cli("dags", "show", tagged, "--output", "json", address=address))
    assert [t["upstream_task_ids"] for t in dag["tasks"]] == [[], ["extract"]]

    assert ok(run_cli("dags", "pause", tagged, address=address)).strip() == (
        f"DAG {tagged!r} is paused"
    )
    assert as_json(run_cli("dags", "show", tagged, "-o", "json", address=address))["is_paused"]
    assert ok(run_cli("dags", "unpause", paused, address=address)).strip() == (
        f"DAG {paused!r} is unpaused"
    )

    for verb in ("show", "pause", "unpause"):
        missing = run_cli("dags", verb, "no_such_dag", address=address)
        assert error_line(missing, f"dags {verb}") == "DAG 'no_such_dag' not found"


async def test_dags_delete_asks_first(stubs: StateClient, address: str) -> None:
    dag_id = await registered(stubs, {"work": []})
    ok(run_cli("dags", "trigger", dag_id, address=address))

    refused(run_cli("dags", "delete", dag_id, address=address, stdin="n\n"), "dags delete")
    assert as_json(run_cli("dags", "show", dag_id, "-o", "json", address=address))

    deleted = run_cli("dags", "delete", dag_id, address=address, stdin="y\n")
    assert ok(deleted).strip() == f"deleted DAG {dag_id!r} and 1 run(s)"
    again = run_cli("dags", "delete", dag_id, "--yes", address=address)
    assert error_line(again, "dags delete") == f"DAG {dag_id!r} not found"


async def test_dags_trigger_runs_and_their_errors(stubs: StateClient, address: str) -> None:
    dag_id = await registered(stubs, {"extract": [], "load": ["extract"]})

    run = as_json(
        run_cli(
            "dags",
            "trigger",
            dag_id,
            "--conf",
            '{"x": 1}',
            "--run-id",
            "r1",
            "-o",
            "json",
            address=address,
        )
    )
    assert (run["run_id"], run["state"], run["run_type"], run["conf"]) == (
        "r1",
        "queued",
        "manual",
        {"x": 1},
    )
    dated = as_json(
        run_cli(
            "dags",
            "trigger",
            dag_id,
            "--logical-date",
            "2026-02-01",
            "-o",
            "json",
            address=address,
        )
    )
    assert dated["logical_date"] == "2026-02-01T00:00:00+00:00"
    shown = ok(run_cli("dags", "trigger", dag_id, "--run-id", "r3", address=address))
    assert fields(shown)["run_id"] == "r3"

    taken = run_cli("dags", "trigger", dag_id, "--run-id", "r1", address=address)
    assert error_line(taken, "dags trigger") == f"DAG run '{dag_id}/r1' already exists"
    unknown = run_cli("dags", "trigger", "no_such_dag", address=address)
    assert error_line(unknown, "dags trigger") == "DAG 'no_such_dag' not found"
    bad_conf = run_cli("dags", "trigger", dag_id, "--conf", "{oops", address=address)
    assert error_line(bad_conf, "dags trigger", status=2).startswith(
        "argument -c/--conf: not valid JSON"
    )

    runs = as_json(run_cli("runs", "list", dag_id, "-o", "json", address=address))
    assert sorted(r["run_id"] for r in runs) == sorted(["r1", "r3", dated["run_id"]])
    assert runs[-1]["run_id"] == dated["run_id"]  # newest logical date first
    table = table_rows(ok(run_cli("runs", "list", dag_id, address=address)))
    assert {row[0] for row in table} == {"r1", "r3", dated["run_id"]}
    assert (
        as_json(
            run_cli("runs", "list", dag_id, "--state", "running", "-o", "json", address=address)
        )
        == []
    )

    detail = ok(run_cli("runs", "show", dag_id, "r1", address=address))
    assert fields(detail)["state"] == "queued"
    assert [row[:3] for row in table_rows(detail.split("\n\n")[1])] == [
        ["extract", "none", "0"],
        ["load", "none", "0"],
    ]
    document = as_json(run_cli("runs", "show", dag_id, "r1", "-o", "json", address=address))
    assert document["dag_run"]["conf"] == {"x": 1}
    assert [ti["state"] for ti in document["task_instances"]] == ["none", "none"]

    missing_run = run_cli("runs", "show", dag_id, "nope", address=address)
    assert error_line(missing_run, "runs show") == f"DAG run '{dag_id}/nope' not found"
    missing_dag = run_cli("runs", "list", "no_such_dag", address=address)
    assert error_line(missing_dag, "runs list") == "DAG 'no_such_dag' not found"


async def test_triggering_a_paused_dag_warns_and_the_wait_says_why(
    stubs: StateClient, address: str
) -> None:
    dag_id = await registered(stubs, {"work": []}, paused=True)
    triggered = run_cli("dags", "trigger", dag_id, "--run-id", "r1", address=address)
    ok(triggered)
    assert triggered.stderr.strip() == (
        f"warning: DAG {dag_id!r} is paused: the run stays queued until it is unpaused"
        f" (tradewind dags unpause {dag_id})"
    )
    waiting = run_cli(
        "dags", "trigger", dag_id, "--run-id", "r2", "--wait", "--timeout", "1", address=address
    )
    assert waiting.returncode == 1
    assert "(the DAG is paused: waiting for an unpause)" in waiting.stderr


async def test_dags_trigger_wait_follows_the_run_to_its_end(
    stubs: StateClient, address: str
) -> None:
    dag_id = await registered(stubs, {"work": []})

    waiting = start_cli("dags", "trigger", dag_id, "--run-id", "good", "--wait", address=address)
    await play_run(stubs, dag_id, "good", ti_enums.TRY_OUTCOME_SUCCESS, RUN.DAG_RUN_STATE_SUCCESS)
    result = await finished(waiting)
    out = ok(result)
    assert fields(out)["state"] == "success"
    assert table_rows(out.split("\n\n")[1])[0][:3] == ["work", "success", "1"]
    progress = result.stderr.strip().splitlines()
    assert progress[0] == f"triggered run 'good' of DAG {dag_id!r}; waiting"
    assert progress[1].startswith(f"{dag_id} good: ")
    assert progress[-1].startswith(f"{dag_id} good: success | 1 success")

    waiting = start_cli(
        "dags", "trigger", dag_id, "--run-id", "bad", "--wait", "-o", "json", address=address
    )
    await play_run(stubs, dag_id, "bad", ti_enums.TRY_OUTCOME_FAILED, RUN.DAG_RUN_STATE_FAILED)
    result = await finished(waiting)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["dag_run"]["state"] == "failed"
    assert [ti["state"] for ti in document["task_instances"]] == ["failed"]
    assert result.stderr.strip().splitlines()[-1] == (
        f"tradewind dags trigger: error: run 'bad' of DAG {dag_id!r} failed: task(s) work failed"
    )
    assert "last lines of the log of 'work':" in result.stderr

    late = run_cli(
        "dags",
        "trigger",
        dag_id,
        "--run-id",
        "late",
        "--wait",
        "--timeout",
        "0.5",
        address=address,
    )
    assert late.returncode == 1
    assert late.stderr.strip().splitlines()[-1] == (
        f"tradewind dags trigger: error: run 'late' of DAG {dag_id!r} did not finish within"
        " 0.5s (it is queued)"
    )


# ---- tasks ----


async def test_tasks_logs_reads_and_follows_a_try(stubs: StateClient, address: str) -> None:
    dag_id = await registered(stubs, {"work": []})
    ok(run_cli("dags", "trigger", dag_id, "--run-id", "r", address=address))
    key = (dag_id, "r", "work")

    nothing = run_cli("tasks", "logs", *key, address=address)
    assert ok(nothing) == ""
    assert nothing.stderr.strip() == (
        "(no try yet: the task instance is none; it waits for its upstream tasks)"
    )
    # Followed before the first try exists: waits for it, then prints lines until it ends.
    following = start_cli("tasks", "logs", *key, "--follow", address=address)
    executor, leased = await running_try(stubs, await dag_run(stubs, dag_id, "r"), "work")
    await append_logs(stubs, executor, leased, 1, "starting", "3 rows")
    await asyncio.sleep(0.3)
    await append_logs(stubs, executor, leased, 2, "done")
    await complete(stubs, executor, leased, ti_enums.TRY_OUTCOME_SUCCESS, last_log_chunk_index=2)
    followed = await finished(following)
    messages = [line.split("] ", 1)[1] for line in ok(followed).splitlines()]
    assert messages == ["starting", "3 rows", "done"]

    stored = ok(run_cli("tasks", "logs", *key, "--try", "1", address=address))
    assert stored == followed.stdout
    assert stored.splitlines()[0].startswith("[20")
    ok_follow_after_end = run_cli("tasks", "logs", *key, "-f", address=address)
    assert ok(ok_follow_after_end) == stored

    no_try = run_cli("tasks", "logs", *key, "--try", "2", address=address)
    assert error_line(no_try, "tasks logs") == f"try '{dag_id}/r/work try 2' not found"
    no_task = run_cli("tasks", "logs", dag_id, "r", "nope", address=address)
    assert error_line(no_task, "tasks logs") == f"task instance '{dag_id}/r/nope' not found"


async def test_tasks_clear_and_mark(stubs: StateClient, address: str) -> None:
    dag_id = await registered(stubs, {"extract": [], "load": ["extract"]})
    ok(run_cli("dags", "trigger", dag_id, "--run-id", "r", address=address))
    executor, leased = await running_try(stubs, await dag_run(stubs, dag_id, "r"), "extract")
    await complete(stubs, executor, leased, ti_enums.TRY_OUTCOME_FAILED)

    marked = as_json(
        run_cli(
            "tasks",
            "mark",
            dag_id,
            "r",
            "load",
            "--state",
            "skipped",
            "-o",
            "json",
            address=address,
        )
    )
    assert [(ti["task_id"], ti["state"]) for ti in marked] == [("load", "skipped")]

    preview = run_cli(
        "tasks", "clear", dag_id, "-r", "r", "--only-failed", "--dry-run", address=address
    )
    assert [row[:3] for row in table_rows(ok(preview))] == [["r", "extract", "failed"]]
    assert await ti_state(stubs, dag_id, "r", "extract") == TI.TASK_INSTANCE_STATE_FAILED
    downstream = as_json(
        run_cli(
            "tasks",
            "clear",
            dag_id,
            "-t",
            "extract",
            "--downstream",
            "--dry-run",
            "-o",
            "json",
            address=address,
        )
    )
    assert [ti["task_id"] for ti in downstream] == ["extract", "load"]

    refused(
        run_cli("tasks", "clear", dag_id, "-r", "r", "--only-failed", address=address),
        "tasks clear",
    )
    assert await ti_state(stubs, dag_id, "r", "extract") == TI.TASK_INSTANCE_STATE_FAILED

    cleared = run_cli(
        "tasks", "clear", dag_id, "-r", "r", "-t", "extract", "--yes", address=address
    )
    assert ok(cleared).strip().splitlines()[-1] == "cleared 1 task instance(s)"
    assert await ti_state(stubs, dag_id, "r", "extract") == TI.TASK_INSTANCE_STATE_NONE
    nothing = as_json(
        run_cli("tasks", "clear", dag_id, "--only-failed", "--yes", "-o", "json", address=address)
    )
    assert nothing == []

    unknown_dag = run_cli("tasks", "clear", "no_such_dag", "--yes", address=address)
    assert error_line(unknown_dag, "tasks clear") == "DAG 'no_such_dag' not found"
    unknown_task = run_cli(
        "tasks", "mark", dag_id, "r", "nope", "--state", "success", address=address
    )
    assert error_line(unknown_task, "tasks mark") == f"task instance '{dag_id}/r/nope' not found"
    bad_state = run_cli("tasks", "mark", dag_id, "r", "load", "--state", "running", address=address)
    assert error_line(bad_state, "tasks mark", status=2).startswith(
        "argument -s/--state: invalid choice"
    )


# ---- variables, connections, pools, import errors ----


async def test_variables(address: str) -> None:
    key = unique("var")
    assert ok(run_cli("variables", "set", key, "v 1", "--description", "d", address=address))
    assert ok(run_cli("variables", "get", key, address=address)) == "v 1\n"
    assert as_json(run_cli("variables", "get", key, "-o", "json", address=address)) == {
        "key": key,
        "value": "v 1",
        "description": "d",
    }
    listed = as_json(run_cli("variables", "list", "-o", "json", address=address))
    assert {"key": key, "value": "v 1", "description": "d"} in listed
    assert [key, "v", "1", "d"] in table_rows(ok(run_cli("variables", "list", address=address)))
    ok(run_cli("variables", "delete", key, address=address))
    for verb in ("get", "delete"):
        missing = run_cli("variables", verb, key, address=address)
        assert error_line(missing, f"variables {verb}") == f"variable {key!r} not found"


async def test_variables_and_connections_export_and_import_in_airflows_format(
    address: str, tmp_path: Path
) -> None:
    key, conn_id = unique("exported"), unique("exported_db")
    ok(run_cli("variables", "set", key, '{"rows": 10}', "--description", "limits", address=address))
    ok(
        run_cli(
            "connections",
            "add",
            conn_id,
            "--conn-uri",
            "postgres://u:pw@db:5432/s",
            address=address,
        )
    )
    variables, connections = tmp_path / "variables.json", tmp_path / "connections.json"
    assert "successfully exported" in ok(
        run_cli("variables", "export", str(variables), address=address)
    )
    ok(run_cli("connections", "export", str(connections), address=address))
    document = json.loads(variables.read_text())
    assert document[key] == {"value": {"rows": 10}, "description": "limits"}
    exported = json.loads(connections.read_text())[conn_id]
    assert (exported["conn_type"], exported["password"], exported["port"]) == (
        "postgres",
        "pw",
        5432,
    )

    ok(run_cli("variables", "delete", key, address=address))
    ok(run_cli("connections", "delete", conn_id, address=address))
    imported = ok(run_cli("variables", "import", str(variables), address=address))
    assert "variable(s) successfully updated" in imported
    assert as_json(run_cli("variables", "get", key, "-o", "json", address=address)) == {
        "key": key,
        "value": '{"rows": 10}',
        "description": "limits",
    }
    ok(run_cli("connections", "import", str(connections), address=address))
    revealed = as_json(
        run_cli("connections", "get", conn_id, "--reveal", "-o", "json", address=address)
    )
    assert (revealed["host"], revealed["password"]) == ("db", "pw")
    again = ok(run_cli("connections", "import", str(connections), address=address))
    assert f"could not import connection {conn_id!r}: it exists already" in again
    refused_import = run_cli(
        "variables", "import", str(variables), "--action-on-existing-key", "fail", address=address
    )
    assert "exist already" in error_line(refused_import, "variables import")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert "JSON object" in error_line(
        run_cli("connections", "import", str(bad), address=address), "connections import"
    )


async def test_connections(address: str) -> None:
    by_fields, by_uri = unique("db"), unique("web")
    added = run_cli(
        "connections",
        "add",
        by_fields,
        "--conn-type",
        "postgres",
        "--host",
        "db.local",
        "--port",
        "5432",
        "--login",
        "me",
        "--password",
        "secret",
        "--extra",
        '{"sslmode": "x"}',
        address=address,
    )
    assert ok(added).strip() == f"connection {by_fields!r} is added"
    ok(
        run_cli(
            "connections",
            "add",
            by_uri,
            "--conn-uri",
            "https://u:p%40ss@example.com/api",
            address=address,
        )
    )

    redacted = as_json(run_cli("connections", "get", by_fields, "-o", "json", address=address))
    assert (redacted["host"], redacted["port"], redacted["password"]) == ("db.local", 5432, "***")
    revealed = as_json(
        run_cli("connections", "get", by_uri, "--reveal", "-o", "json", address=address)
    )
    assert (revealed["conn_type"], revealed["password"], revealed["schema"]) == (
        "https",
        "p@ss",
        "api",
    )
    assert fields(ok(run_cli("connections", "get", by_fields, address=address)))["password"] == (
        "***"
    )
    listed = {
        c["conn_id"] for c in as_json(run_cli("connections", "list", "-o", "json", address=address))
    }
    assert {by_fields, by_uri} <= listed
    rows = {r[0]: r for r in table_rows(ok(run_cli("connections", "list", address=address)))}
    assert rows[by_fields][:4] == [by_fields, "postgres", "db.local", "5432"]

    again = run_cli("connections", "add", by_fields, "--conn-type", "http", address=address)
    assert error_line(again, "connections add").startswith(f"connection {by_fields!r} already")
    bad_extra = run_cli(
        "connections", "add", "x", "--conn-type", "http", "--extra", "[]", address=address
    )
    assert error_line(bad_extra, "connections add", status=2).startswith(
        "argument --extra: must be a JSON object"
    )
    ok(run_cli("connections", "delete", by_uri, address=address))
    missing = run_cli("connections", "get", by_uri, address=address)
    assert error_line(missing, "connections get") == f"connection {by_uri!r} not found"


async def test_pools(address: str) -> None:
    name = unique("pool")
    assert ok(run_cli("pools", "set", name, "3", "--description", "three", address=address))
    assert as_json(run_cli("pools", "get", name, "-o", "json", address=address)) == {
        "name": name,
        "slots": 3,
        "description": "three",
        "running_slots": 0,
        "queued_slots": 0,
        "open_slots": 3,
        "include_deferred": False,
    }
    ok(run_cli("pools", "set", name, "-1", address=address))
    rows = {r[0]: r for r in table_rows(ok(run_cli("pools", "list", address=address)))}
    assert rows[name][:2] == [name, "unlimited"]
    assert "default_pool" in {
        p["name"] for p in as_json(run_cli("pools", "list", "-o", "json", address=address))
    }

    too_few = run_cli("pools", "set", name, "-5", address=address)
    assert error_line(too_few, "pools set") == (
        "invalid pool.slots: must be -1 (unlimited) or at least 0"
    )
    default = run_cli("pools", "delete", "default_pool", address=address)
    assert "default_pool" in error_line(default, "pools delete")
    ok(run_cli("pools", "delete", name, address=address))
    missing = run_cli("pools", "get", name, address=address)
    assert error_line(missing, "pools get") == f"pool {name!r} not found"


async def test_import_errors(stubs: StateClient, address: str) -> None:
    path = f"{unique('broken')}.py"
    processor_id = unique("proc")
    await stubs.processor.AcquireDagFileLeases(
        processor_rr.AcquireDagFileLeasesRequest(
            processor_id=processor_id, relative_filelocs=[path], lease_duration=seconds(60)
        )
    )
    await stubs.processor.ReportParseResults(
        processor_rr.ReportParseResultsRequest(
            processor_id=processor_id,
            results=[
                processor_pb2.FileParseResult(
                    relative_fileloc=path,
                    fileloc=f"/dags/{path}",
                    import_error=dag_pb2.ImportError(
                        filename=f"/dags/{path}",
                        relative_filename=path,
                        message="SyntaxError: invalid syntax (line 3)",
                        line_number=3,
                        stacktrace="Traceback (most recent call last): ...",
                    ),
                )
            ],
        )
    )
    rows = {r[0]: r for r in table_rows(ok(run_cli("import-errors", address=address)))}
    assert rows[path][1:3] == ["3", "SyntaxError:"]
    errors = {
        e["relative_filename"]: e
        for e in as_json(run_cli("import-errors", "-o", "json", address=address))
    }
    assert errors[path]["stacktrace"].startswith("Traceback")
    listed = {r[0]: r for r in table_rows(ok(run_cli("import-errors", "list", address=address)))}
    assert listed[path] == rows[path]


# ---- the client underneath ----


async def test_the_client_pages_through_listings(address: str) -> None:
    prefix = unique("paged")
    async with Client([address, address]) as client:  # two targets: the round-robin path
        for n in range(5):
            await client.set_variable(f"{prefix}_{n}", str(n))
        keys = [v.key async for v in client.variables(key_contains=prefix, page_size=2)]
        assert keys == [f"{prefix}_{n}" for n in range(5)]
        assert len([p async for p in client.pools(page_size=1)]) >= 1


async def test_the_client_drives_runs_and_raises_typed_errors(
    stubs: StateClient, address: str
) -> None:
    dag_id = await registered(stubs, {"work": []})
    async with Client(address) as client:
        with pytest.raises(ValueError, match="must be a dict"):
            await client.trigger(dag_id, conf=["not", "a", "dict"])  # type: ignore[arg-type]
        run = await client.trigger(dag_id, run_id="r", conf={"a": 1}, note="by the client")
        assert (run.state, run.conf, run.note) == (DagRunState.QUEUED, {"a": 1}, "by the client")
        with pytest.raises(AlreadyExistsError) as taken:
            await client.trigger(dag_id, run_id="r")
        assert taken.value.resource_type == "dag_run"
        assert taken.value.existing_request_id  # the first trigger sent one

        executor, leased = await running_try(stubs, await dag_run(stubs, dag_id, "r"), "work")
        await complete(stubs, executor, leased, ti_enums.TRY_OUTCOME_SUCCESS)
        (done,) = [t async for t in client.task_instance_tries(dag_id, "r")]
        assert (done.task_id, done.try_number, done.outcome) == ("work", 1, TryOutcome.SUCCESS)
        assert (await client.get_task_instance(dag_id, "r", "work")).state == "success"
        assert dag_id + ".py" in {f.relative_fileloc async for f in client.dag_files()}

        failed = await client.set_dag_run_state(dag_id, "r", DagRunState.FAILED, note="by hand")
        assert failed.state is DagRunState.FAILED
        with pytest.raises(InvalidArgumentError) as invalid:
            await client.set_dag_run_state(dag_id, "r", DagRunState.RUNNING)
        assert invalid.value.field == "state"
        await client.delete_dag_run(dag_id, "r")
        with pytest.raises(NotFoundError, match=f"DAG run '{dag_id}/r' not found"):
            await client.get_dag_run(dag_id, "r")
        await client.delete_dag_run(dag_id, "r", missing_ok=True)
        with pytest.raises(FailedPreconditionError):
            await client.delete_pool("default_pool")


# ---- without a server ----


@pytest.mark.parametrize(
    ("words", "command"),
    [
        (["dags", "list"], "dags list"),
        (["dags", "trigger", "etl", "--wait"], "dags trigger"),
        (["tasks", "logs", "etl", "r", "t", "--follow"], "tasks logs"),
        (["import-errors", "-o", "json"], "import-errors"),
    ],
)
def test_an_unreachable_server_is_one_line_naming_its_address(
    words: list[str], command: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_cli(*words, "--state-address", address)
    assert time.monotonic() - started < UNREACHABLE_SECONDS
    assert error_line(result, command) == (
        f"cannot reach the state service at {address}: is it running?"
    )
    assert result.stdout == ""


def test_bad_json_conf_is_a_usage_error_before_connecting() -> None:
    result = run_cli("dags", "trigger", "etl", "--conf", "not json", address="127.0.0.1:1")
    assert "argument -c/--conf: not valid JSON" in error_line(result, "dags trigger", status=2)


def test_authentication_errors_say_how_to_give_the_token(secured_state: ServiceProcess) -> None:
    address = secured_state.address
    for extra in ([], ["--state-token", "not-" + API_TOKEN]):
        result = run_cli("dags", "list", *extra, address=address)
        line = error_line(result, "dags list")
        assert "needs a valid credential" in line
        assert "--state-token or TRADEWIND_STATE_TOKEN" in line
    allowed = run_cli("dags", "list", "-o", "json", "--state-token", API_TOKEN, address=address)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == []


async def test_assets_list_show_emit_queued_and_events(stubs: StateClient, address: str) -> None:
    uri = f"s3://cli/{unique('asset')}"
    asset = dag_pb2.Asset(name=uri, uri=uri, group="asset", extra_json='{"owner": "cli"}')
    producer = unique("cli")
    consumer = unique("cli")
    await register_dags(
        stubs,
        [
            make_dag(
                producer,
                {"make": []},
                file=f"{producer}.py",
                outlets={"make": [dag_pb2.TaskAsset(asset=asset)]},
            ),
            make_dag(
                consumer,
                {"use": []},
                file=f"{producer}.py",
                assets=dag_pb2.AssetCondition(asset=asset),
            ),
        ],
    )
    listed = as_json(run_cli("assets", "list", "--search", uri, "-o", "json", address=address))
    assert [(a["asset"]["uri"], a["scheduled_dag_ids"]) for a in listed] == [(uri, [consumer])]
    shown = ok(run_cli("assets", "show", uri, address=address))
    assert f"producing tasks  {producer}.make" in shown
    assert '{"owner": "cli"}' in shown

    emitted = ok(run_cli("assets", "emit", uri, "--extra", '{"rows": 5}', address=address))
    assert emitted.strip().endswith(f"recorded for {uri}; queued {consumer}")
    queued = table_rows(ok(run_cli("assets", "queued", consumer, address=address)))
    assert [row[:2] for row in queued] == [[consumer, uri]]
    events = as_json(run_cli("assets", "events", uri, "-o", "json", address=address))
    assert [(e["origin"], e["extra"]) for e in events] == [("api", {"rows": 5})]

    refused = run_cli("assets", "emit", uri, "--extra", "[1]", address=address)
    assert error_line(refused, "assets emit") == "--extra must be a JSON object, got list"
    missing = run_cli("assets", "show", "no-such-asset", address=address)
    assert error_line(missing, "assets show") == "no asset has the name or URI 'no-such-asset'"

    assert as_json(run_cli("assets", "state", uri, "-o", "json", address=address)) == []
    misused = run_cli("assets", "state", uri, "--key", "k", address=address)
    assert error_line(misused, "assets state") == "--key goes with --clear"
    cleared = ok(run_cli("assets", "state", uri, "--clear", address=address))
    assert cleared.strip() == f"cleared every key of {uri}: 0 deleted"


async def test_partition_keys_through_trigger_emit_events_and_queued(
    stubs: StateClient, address: str
) -> None:
    uri = f"s3://cli/{unique('partitioned')}"
    asset = dag_pb2.Asset(name=uri, uri=uri, group="asset", extra_json="{}")
    consumer = unique("cli")
    hourly = unique("cli")
    cron_partitioned = make_dag(hourly, {"t": []}, file=f"{consumer}.py")
    cron_partitioned.definition.schedule.cron_partition.CopyFrom(
        dag_pb2.CronPartition(expression="0 * * * *", key_format="%Y-%m-%dT%H")
    )
    outcomes = await register_dags(
        stubs,
        [
            make_dag(
                consumer,
                {"use": []},
                file=f"{consumer}.py",
                assets=dag_pb2.AssetCondition(asset=asset),
                partitioning=dag_pb2.AssetPartitioning(
                    default_mapper=dag_pb2.PartitionMapper(identity=dag_pb2.IdentityMapper())
                ),
            ),
            cron_partitioned,
        ],
    )
    assert [o.accepted for o in outcomes] == [True]
    triggered = ok(run_cli("dags", "trigger", hourly, "-p", "2026-06-14T03", address=address))
    assert fields(triggered)["partition_key"] == "2026-06-14T03"
    assert fields(triggered)["partition_date"].startswith("2026-06-14 03:00:00")
    refused = run_cli("dags", "trigger", hourly, "--partition-key", "June", address=address)
    assert "does not match the timetable's key_format '%Y-%m-%dT%H'" in error_line(
        refused, "dags trigger"
    )

    emitted = ok(run_cli("assets", "emit", uri, "--partition-key", "us", address=address))
    assert emitted.strip().endswith(f"recorded for {uri}; queued {consumer}")
    events = as_json(run_cli("assets", "events", uri, "-o", "json", address=address))
    assert [e["partition_key"] for e in events] == ["us"]
    shown = table_rows(ok(run_cli("assets", "events", uri, address=address)))
    assert "us" in shown[0]
    # No scheduler runs here: assign the event as one would, and see the pending partition.
    queued = await stubs.scheduler.ListSchedulableDags(scheduler_rr.ListSchedulableDagsRequest())
    (item,) = [d for d in queued.dags if d.dag.dag_id == consumer]
    (event,) = item.queued_partition_events
    assert event.partition_key == "us"
    plan = scheduler_pb2.PartitionPlan(
        dag_id=consumer,
        assignments=[
            scheduler_pb2.PartitionAssignment(
                asset_event_id=event.asset_event_id, partition_keys=["us"]
            )
        ],
    )
    await stubs.scheduler.PlanAssetPartitions(
        scheduler_rr.PlanAssetPartitionsRequest(scheduler_id="cli-test", plans=[plan])
    )
    pending = table_rows(ok(run_cli("assets", "queued", "--partitions", consumer, address=address)))
    assert [(row[0], row[1], row[-1]) for row in pending] == [(consumer, "us", f"{uri}:us")]
