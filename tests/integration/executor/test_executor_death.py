"""A SIGKILLed executor takes its fork server and running tasks with it: nothing runs unseen."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from tests.helpers.flows import trigger, unique
from tests.helpers.processes import ServiceProcess, assert_eventually
from tests.helpers.state import StateClient
from tests.integration.executor.runs import register, start_executor


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


async def test_killing_an_executor_kills_its_running_tasks(
    client: StateClient,
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
    tmp_path: Path,
) -> None:
    dag_id = unique("orphan")
    pid_file = tmp_path / "task.pid"
    await register(
        client,
        dags_folder,
        f"{dag_id}.py",
        f"""
        with DAG("{dag_id}", schedule=None, start_date=START):
            @task
            def linger():
                Path("{pid_file}").write_text(str(os.getpid()))
                time.sleep(60)

            linger()
        """,
        [dag_id],
    )
    executor = start_executor(state_service.address, dags_folder, "--queues", "default")
    try:
        await trigger(client, dag_id)
        pid = int(assert_eventually(lambda: pid_file.exists() and pid_file.read_text(), timeout=20))
        assert alive(pid)
        executor.signal(signal.SIGKILL)
        executor.wait(timeout=10)
        started = time.monotonic()
        assert_eventually(
            lambda: not alive(pid), timeout=5, message="the task died with its executor"
        )
        assert time.monotonic() - started < 5
    finally:
        executor.stop()
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
