"""PostgreSQL restarts in the middle of the load: every run still completes correctly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.run.v1 import message_pb2 as run_pb2
from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import upgrade
from tests.faults.workload import DAG_SOURCE
from tests.helpers.private_postgres import PrivatePostgres, server_binaries
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import start_state, state_client

DAGS = 3
RUNS_PER_DAG = 3


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries are not installed")
    server = PrivatePostgres(bin_dir=bin_dir).init()
    server.start()
    db = Database(DatabaseSettings(url=server.url))
    upgrade(db)
    db.dispose()
    yield server
    server.destroy()


@pytest.mark.timeout(240)
async def test_runs_complete_across_a_database_restart(
    database: PrivatePostgres, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    for number in range(DAGS):
        (dags / f"restart_{number}.py").write_text(DAG_SOURCE.format(dag_id=f"restart_{number}"))
    state = start_state(database.url)
    services: list[ServiceProcess] = []
    try:
        services = [
            start_service(
                "dag_processor", state.address, "--dags-folder", str(dags), "--scan-interval", "0.5"
            ),
            start_service("scheduler", state.address, "--sweep-interval", "1"),
            start_service("executor", state.address, "--dags-folder", str(dags), "--slots", "4"),
        ]
        async with state_client(state.address) as client:
            deadline = time.monotonic() + 60
            while len((await client.api.ListDags(api_rr.ListDagsRequest())).dags) < DAGS:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            runs = [
                (
                    await client.api.TriggerDagRun(
                        api_rr.TriggerDagRunRequest(
                            dag_id=f"restart_{d}", run_id=f"r{n}", request_id=f"{d}-{n}"
                        )
                    )
                ).dag_run
                for d in range(DAGS)
                for n in range(RUNS_PER_DAG)
            ]
            await asyncio.sleep(1.0)
            database.stop()
            await asyncio.sleep(2.0)
            database.start()
            deadline = time.monotonic() + 150
            states: dict[str, int] = {}
            while len(states) < len(runs):
                assert time.monotonic() < deadline, f"{len(states)}/{len(runs)} runs finished"
                for run in runs:
                    key = run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id)
                    try:
                        current = (
                            await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))
                        ).dag_run
                    except Exception:
                        break
                    if current.state in (
                        dag_run_pb2.DAG_RUN_STATE_SUCCESS,
                        dag_run_pb2.DAG_RUN_STATE_FAILED,
                    ):
                        states[run.run_id + run.dag_id] = current.state
                await asyncio.sleep(0.5)
            assert set(states.values()) == {dag_run_pb2.DAG_RUN_STATE_SUCCESS}
    finally:
        for process in services:
            process.stop()
        state.stop()
