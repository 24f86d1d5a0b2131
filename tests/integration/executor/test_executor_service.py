"""One executor running real task processes, with a real DAG processor, scheduler and state
service on both backends: every outcome of a try, logs while it runs, XCom, a clean environment.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import log_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.flows import TI, trigger
from tests.helpers.processes import ServiceProcess, assert_eventually
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import eventually
from tests.integration.dag_processor.procfs import children, live_group_members, running
from tests.integration.executor.runs import (
    RUN,
    register,
    run_to_end,
    start_executor,
    task_instance,
    tries,
    wait_for_run,
    xcom_values,
)

#: A database password the executor's environment holds and its task processes must not.
SECRET = "hunter2-not-for-tasks"
#: Lines a task prints at once in the burst test.
BURST_LINES = 20_000
EXECUTOR_ENVIRONMENT = {
    "TRADEWIND_DATABASE_URL": f"postgresql://tradewind:{SECRET}@db.internal:5432/tradewind",
    "PGPASSWORD": SECRET,
    # As in production: output to a pipe is block-buffered unless the executor sees to it.
    "PYTHONUNBUFFERED": "",
}


@pytest.fixture(scope="module")
def executor(
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
) -> Iterator[ServiceProcess]:
    process = start_executor(
        state_service.address,
        dags_folder,
        "--slots",
        "8",
        "--kill-grace",
        "1",
        env=EXECUTOR_ENVIRONMENT,
    )
    yield process
    process.stop()


def process_environment(pid: int) -> str:
    """The environment a running process started with."""
    return (Path("/proc") / str(pid) / "environ").read_bytes().decode(errors="replace")


async def test_a_task_succeeds_and_passes_xcom_downstream(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "xcom_flow.py",
        """
        @task
        def produce() -> dict:
            return {"n": 21}

        @task
        def consume(value: dict) -> int:
            return value["n"] * 2

        with DAG("xcom_flow", schedule=None, start_date=START):
            doubled = consume(produce())
            doubled >> BashOperator(
                task_id="echo",
                bash_command="echo run={{ run_id }} got={{ ti.xcom_pull('consume') }}",
            )
        """,
        ["xcom_flow"],
    )
    run = await run_to_end(client, "xcom_flow")
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    # As in Airflow, a dict return annotation means multiple_outputs: one XCom per key too.
    assert await xcom_values(client, run, "produce") == {"return_value": '{"n": 21}', "n": "21"}
    assert await xcom_values(client, run, "consume") == {"return_value": "42"}
    history = await tries(client, run)
    assert [(t.key.task_id, t.try_number, t.outcome) for t in history] == [
        ("consume", 1, ti_enums.TRY_OUTCOME_SUCCESS),
        ("echo", 1, ti_enums.TRY_OUTCOME_SUCCESS),
        ("produce", 1, ti_enums.TRY_OUTCOME_SUCCESS),
    ]
    assert {t.executor_id for t in history} != {""}
    echo = await client.api.GetTaskInstanceLogs(
        api_rr.GetTaskInstanceLogsRequest(
            key=run_pb2.TaskInstanceKey(dag_id="xcom_flow", run_id=run.run_id, task_id="echo")
        )
    )
    # The command's output is logged line by line, under the operator's logger.
    expected = f"tradewind.task.operators.BashOperator: run={run.run_id} got=42"
    assert expected in [line.message for line in echo.lines]
    assert echo.complete


async def test_a_failure_keeps_type_message_and_traceback(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "explodes.py",
        """
        @task
        def explode() -> None:
            raise ValueError("boom: the answer was 41")

        with DAG("explodes", schedule=None, start_date=START):
            explode()
        """,
        ["explodes"],
    )
    run = await run_to_end(client, "explodes")
    assert run.state == RUN.DAG_RUN_STATE_FAILED
    ti = await task_instance(client, run, "explode")
    assert ti.state == TI.TASK_INSTANCE_STATE_FAILED
    assert ti.last_error.exception_type == "ValueError"
    assert ti.last_error.message == "boom: the answer was 41"
    assert 'raise ValueError("boom: the answer was 41")' in ti.last_error.traceback
    assert "explodes.py" in ti.last_error.traceback
    (only,) = await tries(client, run)
    assert only.outcome == ti_enums.TRY_OUTCOME_FAILED
    assert only.error == ti.last_error


async def test_a_failed_try_is_retried_and_the_retry_succeeds(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    marker = dags_folder / "flaky.marker"
    await register(
        client,
        dags_folder,
        "flaky.py",
        f"""
        @task(retries=1, retry_delay=timedelta(seconds=0))
        def flaky() -> str:
            marker = Path({str(marker)!r})
            if not marker.exists():
                marker.write_text("the first try was here")
                raise RuntimeError("the first try fails")
            return "the second try worked"

        with DAG("flaky", schedule=None, start_date=START):
            flaky()
        """,
        ["flaky"],
    )
    run = await run_to_end(client, "flaky")
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    first, second = await tries(client, run)
    assert (first.try_number, first.outcome, first.state) == (
        1,
        ti_enums.TRY_OUTCOME_FAILED,
        TI.TASK_INSTANCE_STATE_UP_FOR_RETRY,
    )
    assert first.error.message == "the first try fails"
    assert (second.try_number, second.outcome) == (2, ti_enums.TRY_OUTCOME_SUCCESS)
    ti = await task_instance(client, run, "flaky")
    assert (ti.state, ti.try_number) == (TI.TASK_INSTANCE_STATE_SUCCESS, 2)
    assert await xcom_values(client, run, "flaky") == {"return_value": '"the second try worked"'}


async def test_a_task_that_asks_to_be_skipped_is_skipped(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "skips.py",
        """
        @task
        def nothing_to_do() -> None:
            raise TaskSkipped("no new files today")

        @task
        def after() -> None:
            pass

        with DAG("skips", schedule=None, start_date=START):
            nothing_to_do() >> after()
        """,
        ["skips"],
    )
    run = await run_to_end(client, "skips")
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    skipped = await task_instance(client, run, "nothing_to_do")
    assert skipped.state == TI.TASK_INSTANCE_STATE_SKIPPED
    assert (await task_instance(client, run, "after")).state == TI.TASK_INSTANCE_STATE_SKIPPED
    (only,) = await tries(client, run)
    assert only.outcome == ti_enums.TRY_OUTCOME_SKIPPED


async def test_an_explicit_failure_is_not_retried(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "gives_up.py",
        """
        @task(retries=3, retry_delay=timedelta(seconds=0))
        def give_up() -> None:
            raise AirflowFailException("the input is corrupt; retrying will not help")

        with DAG("gives_up", schedule=None, start_date=START):
            give_up()
        """,
        ["gives_up"],
    )
    run = await run_to_end(client, "gives_up")
    assert run.state == RUN.DAG_RUN_STATE_FAILED
    ti = await task_instance(client, run, "give_up")
    assert (ti.state, ti.try_number, ti.max_tries) == (TI.TASK_INSTANCE_STATE_FAILED, 1, 4)
    assert "retrying will not help" in ti.last_error.message
    (only,) = await tries(client, run)
    assert only.outcome == ti_enums.TRY_OUTCOME_FAILED_NO_RETRY


async def test_a_timed_out_try_loses_its_whole_process_group(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    pids = dags_folder / "sleepy.pids"
    await register(
        client,
        dags_folder,
        "sleepy.py",
        f"""
        import json
        import subprocess

        @task(execution_timeout=timedelta(seconds=1))
        def sleepy() -> None:
            child = subprocess.Popen(["sleep", "60"])
            Path({str(pids)!r}).write_text(
                json.dumps({{"pgid": os.getpgid(0), "pid": os.getpid(), "child": child.pid}})
            )
            time.sleep(60)

        with DAG("sleepy", schedule=None, start_date=START):
            sleepy()
        """,
        ["sleepy"],
    )
    run = await run_to_end(client, "sleepy")
    assert run.state == RUN.DAG_RUN_STATE_FAILED
    (only,) = await tries(client, run)
    assert only.outcome == ti_enums.TRY_OUTCOME_TIMED_OUT
    assert only.error.exception_type == "TaskTimedOut"
    assert "execution_timeout of 1s" in only.error.message
    assert 0.9 < (only.end_date.ToDatetime() - only.start_date.ToDatetime()).total_seconds() < 10
    started = json.loads(pids.read_text())
    assert started["pgid"] == started["pid"]  # the task process leads its own group
    assert_eventually(
        lambda: live_group_members(started["pgid"]) == [], timeout=2, message="group gone"
    )
    assert not running(started["pid"])
    assert not running(started["child"])


async def test_logs_are_readable_while_the_task_runs(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    release = dags_folder / "chatty.release"
    await register(
        client,
        dags_folder,
        "chatty.py",
        f"""
        import logging

        @task
        def chatty() -> None:
            print("printed before waiting")
            logging.getLogger("chatty").warning("logged before waiting")
            deadline = time.monotonic() + 30
            while not Path({str(release)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            print("printed after the release")

        with DAG("chatty", schedule=None, start_date=START):
            chatty()
        """,
        ["chatty"],
    )
    run = await trigger(client, "chatty")
    key = run_pb2.TaskInstanceKey(dag_id="chatty", run_id=run.run_id, task_id="chatty")

    async def early_lines() -> api_rr.GetTaskInstanceLogsResponse | None:
        response = await client.api.GetTaskInstanceLogs(api_rr.GetTaskInstanceLogsRequest(key=key))
        messages = " | ".join(line.message for line in response.lines)
        wanted = ("printed before waiting", "logged before waiting")
        return response if all(text in messages for text in wanted) else None

    early = await eventually(early_lines, what="the first lines shipped while running")
    assert not early.complete, list(early.lines)
    ti = await task_instance(client, run, "chatty")
    assert ti.state == TI.TASK_INSTANCE_STATE_RUNNING
    by_message = {line.message: line for line in early.lines}
    printed = by_message["printed before waiting"]
    assert printed.stream == log_pb2.LOG_STREAM_STDOUT
    (logged,) = [line for line in early.lines if line.message.endswith("logged before waiting")]
    assert (logged.stream, logged.level) == (log_pb2.LOG_STREAM_LOGGING, "WARNING")
    assert printed.timestamp.ToDatetime() <= logged.timestamp.ToDatetime()

    release.touch()
    finished = await wait_for_run(client, "chatty", run.run_id)
    assert finished.state == RUN.DAG_RUN_STATE_SUCCESS
    final = await client.api.GetTaskInstanceLogs(api_rr.GetTaskInstanceLogsRequest(key=key))
    assert final.complete
    assert final.try_number == 1
    messages = [line.message for line in final.lines]
    assert messages.index("printed before waiting") < messages.index("printed after the release")
    sequences = [line.sequence for line in final.lines]
    assert sequences == list(range(1, len(sequences) + 1))


async def test_task_processes_never_see_database_credentials(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "environment.py",
        """
        @task
        def environment() -> dict:
            return dict(os.environ)

        with DAG("environment", schedule=None, start_date=START):
            environment()
        """,
        ["environment"],
    )
    run = await run_to_end(client, "environment")
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    seen: dict[str, str] = json.loads(
        (await xcom_values(client, run, "environment"))["return_value"]
    )
    assert "PATH" in seen  # the task did report its environment
    assert not [name for name in seen if name.startswith(("TRADEWIND_DATABASE", "PG"))]
    assert not [name for name, value in seen.items() if SECRET in value or "db.internal" in value]
    # The executor itself had them, so they were removed on the way to the task.
    assert executor.process is not None
    assert SECRET in process_environment(executor.process.pid)
    assert os.environ.get("PGPASSWORD") != SECRET


async def test_a_burst_of_output_is_shipped_while_the_task_runs(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    release = dags_folder / "burst.release"
    await register(
        client,
        dags_folder,
        "burst.py",
        f"""
        @task
        def burst() -> None:
            for number in range(1, {BURST_LINES + 1}):
                print(f"line {{number}}")
            deadline = time.monotonic() + 30
            while not Path({str(release)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)

        with DAG("burst", schedule=None, start_date=START):
            burst()
        """,
        ["burst"],
    )
    run = await trigger(client, "burst")
    key = run_pb2.TaskInstanceKey(dag_id="burst", run_id=run.run_id, task_id="burst")

    async def line_after(sequence: int) -> run_pb2.LogLine | None:
        response = await client.api.GetTaskInstanceLogs(
            api_rr.GetTaskInstanceLogsRequest(key=key, after_sequence=sequence)
        )
        return response.lines[0] if response.lines else None

    try:
        # The clock starts once the task prints (scheduling and starting it can be slow on a
        # loaded machine). Shipping one chunk per flush interval would then take
        # BURST_LINES / 1000 * 0.25 s = 5 s.
        await eventually(lambda: line_after(-1), within=30, what="the first line shipped")
        line = await eventually(
            lambda: line_after(BURST_LINES - 1), within=3, what=f"line {BURST_LINES} shipped"
        )
        assert line.message == f"line {BURST_LINES}"
        ti = await task_instance(client, run, "burst")
        assert ti.state == TI.TASK_INSTANCE_STATE_RUNNING
    finally:
        release.touch()
    assert (await wait_for_run(client, "burst", run.run_id)).state == RUN.DAG_RUN_STATE_SUCCESS


async def test_a_process_left_behind_does_not_hold_the_try_open(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    pid_file = dags_folder / "leaves_behind.pid"
    await register(
        client,
        dags_folder,
        "leaves_behind.py",
        f"""
        import subprocess

        @task
        def leave_behind() -> str:
            # The child inherits the task's stdout and stderr, and outlives the task.
            child = subprocess.Popen(["sleep", "60"])
            Path({str(pid_file)!r}).write_text(str(child.pid))
            return "done"

        with DAG("leaves_behind", schedule=None, start_date=START):
            leave_behind()
        """,
        ["leaves_behind"],
    )
    run = await run_to_end(client, "leaves_behind", within=10)
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    (only,) = await tries(client, run)
    assert (only.end_date.ToDatetime() - only.start_date.ToDatetime()).total_seconds() < 5
    child = int(pid_file.read_text())
    assert_eventually(lambda: not running(child), timeout=2, message="the child killed")
    logs = await client.api.GetTaskInstanceLogs(
        api_rr.GetTaskInstanceLogsRequest(key=only.key, try_number=1)
    )
    system = [line.message for line in logs.lines if line.stream == log_pb2.LOG_STREAM_SYSTEM]
    assert any("left processes running" in message for message in system), system


async def test_a_dead_fork_server_is_replaced_before_the_next_try(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    assert executor.process is not None
    (server,) = children(executor.process.pid, command_contains="services.runtime.forkserver")
    os.kill(server, signal.SIGKILL)
    assert_eventually(lambda: not running(server), timeout=5, message="the fork server died")
    await register(
        client,
        dags_folder,
        "after_fork_server.py",
        """
        @task
        def parent_pid() -> int:
            return os.getppid()

        with DAG("after_fork_server", schedule=None, start_date=START):
            parent_pid()
        """,
        ["after_fork_server"],
    )
    run = await run_to_end(client, "after_fork_server")
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    (replacement,) = children(executor.process.pid, command_contains="services.runtime.forkserver")
    assert replacement != server
    # The try was forked from the new server.
    assert await xcom_values(client, run, "parent_pid") == {"return_value": str(replacement)}


async def test_a_run_with_a_five_megabyte_conf_runs_its_task(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    # The try's spec (conf included) reaches the forked task process through a pipe: a
    # datagram would refuse it beyond about 200 KB.
    await register(
        client,
        dags_folder,
        "big_conf.py",
        """
        @task
        def measure(dag_run=None, params=None) -> list:
            rows = dag_run.conf["rows"]
            return [len(rows), rows[-1]]

        with DAG("big_conf", schedule=None, start_date=START):
            measure()
        """,
        ["big_conf"],
    )
    rows = [f"row {number:07d} " + "x" * 40 for number in range(100_000)]
    conf = json.dumps({"rows": rows})
    assert len(conf) > 5_000_000
    run = await trigger(client, "big_conf", conf_json=conf)
    finished = await wait_for_run(client, "big_conf", run.run_id, within=60)
    assert finished.state == RUN.DAG_RUN_STATE_SUCCESS
    shown = json.loads((await xcom_values(client, run, "measure"))["return_value"])
    assert shown == [100_000, rows[-1]]


async def test_a_task_process_is_out_of_reach_of_the_others(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    # Forked from a non-dumpable fork server, a task is non-dumpable itself: another task (the
    # same user) cannot read its memory or environment, nor the fork server's.
    await register(
        client,
        dags_folder,
        "reach.py",
        """
        import ctypes

        @task
        def reach() -> list:
            dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
            try:
                Path(f"/proc/{os.getppid()}/environ").read_bytes()
                parent_readable = True
            except PermissionError:
                parent_readable = False
            return [dumpable, parent_readable]

        with DAG("reach", schedule=None, start_date=START):
            reach()
        """,
        ["reach"],
    )
    run = await run_to_end(client, "reach")
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    # Even as root (the tests run tasks as root where they run as root): a task told to run as
    # root gives up its capabilities, CAP_SYS_PTRACE among them.
    assert json.loads((await xcom_values(client, run, "reach"))["return_value"]) == [0, False]


async def test_a_task_runs_as_its_run_as_user_where_the_executor_may_switch(
    client: StateClient, executor: ServiceProcess, dags_folder: Path
) -> None:
    # The tests' executors run tasks as their own user (told so); a task naming that user
    # runs as usual, a task naming another is started as that user or refused with the reason.
    own = pwd.getpwuid(os.geteuid()).pw_name
    await register(
        client,
        dags_folder,
        "run_as.py",
        f"""
        @task(run_as_user={own!r})
        def as_executor() -> int:
            return os.geteuid()

        @task(run_as_user="nobody")
        def as_nobody() -> int:
            return os.geteuid()

        @task(run_as_user="no-such-user-3c1")
        def as_stranger() -> int:
            return os.geteuid()

        with DAG("run_as", schedule=None, start_date=START):
            as_executor()
            as_nobody()
            as_stranger()
        """,
        ["run_as"],
    )
    run = await run_to_end(client, "run_as")
    assert json.loads((await xcom_values(client, run, "as_executor"))["return_value"]) == (
        os.geteuid()
    )
    errors = {t.key.task_id: t.error.message for t in await tries(client, run)}
    assert "run_as_user='no-such-user-3c1': no such user" in errors["as_stranger"]
    # The executor lists no --task-users: a DAG may not pick another account.
    assert "not among the users this executor lets tasks run as" in errors["as_nobody"]
