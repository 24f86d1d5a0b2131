"""Three schedulers on PostgreSQL; one is killed mid-way; every run still ends correctly."""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from collections.abc import Iterator

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.dags import make_dag, register_dags
from tests.helpers.databases import TemplateDatabases, require_postgres
from tests.helpers.flows import complete, lease, trigger, unique
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import start_state, state_client

DAGS = 50


@pytest.fixture
def state_on_postgres(
    template_databases: TemplateDatabases, postgres_status: str | None
) -> Iterator[ServiceProcess]:
    require_postgres(postgres_status)
    state = start_state(template_databases.new_url("postgresql"))
    yield state
    state.stop()


@pytest.mark.timeout(120)
async def test_runs_survive_a_killed_scheduler(state_on_postgres: ServiceProcess) -> None:
    address = state_on_postgres.address
    schedulers = [
        start_service("scheduler", address, "--claim-duration", "3", "--sweep-interval", "1")
        for _ in range(3)
    ]
    try:
        async with state_client(address) as client:
            prefix = unique("ha")
            dags = [
                make_dag(f"{prefix}_{i}", {"a": [], "b": ["a"], "c": ["b"]}) for i in range(DAGS)
            ]
            # Cron DAGs that every scheduler races to schedule (their tasks are left alone).
            cron_dags = [
                make_dag(f"{prefix}_cron_{i}", {"t": []}, cron="*/5 * * * *", queue="unserved")
                for i in range(10)
            ]
            await register_dags(client, dags + cron_dags)
            runs = [await trigger(client, dag.definition.dag_id) for dag in dags]
            executor = unique("e")
            completed = 0
            killed = False
            deadline = time.monotonic() + 90
            while completed < DAGS * 3:
                assert time.monotonic() < deadline, f"only {completed} task instances completed"
                tries = await lease(client, executor, 20, wait=1)
                for leased in tries:
                    await complete(client, executor, leased, ti_enums.TRY_OUTCOME_SUCCESS)
                completed += len(tries)
                if not killed and completed >= DAGS:
                    schedulers[0].signal(signal.SIGKILL)
                    killed = True
            finished: collections.Counter[int] = collections.Counter()
            deadline = time.monotonic() + 30
            while finished[dag_run_pb2.DAG_RUN_STATE_SUCCESS] < DAGS:
                assert time.monotonic() < deadline, finished
                finished = collections.Counter()
                for run in runs:
                    key = run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id)
                    response = await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))
                    finished[response.dag_run.state] += 1
                await asyncio.sleep(0.2)
            for run in runs:
                listing = await client.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=run.dag_id))
                assert len(listing.dag_runs) == 1
                history = await client.api.ListTaskInstanceTries(
                    api_rr.ListTaskInstanceTriesRequest(dag_id=run.dag_id)
                )
                assert sorted((t.key.task_id, t.try_number) for t in history.tries) == [
                    ("a", 1),
                    ("b", 1),
                    ("c", 1),
                ]
            for dag in cron_dags:
                listing = await client.api.ListDagRuns(
                    api_rr.ListDagRunsRequest(dag_id=dag.definition.dag_id)
                )
                # A new 5-minute interval may end during the test; what must never happen is
                # the same interval scheduled twice.
                logical = [r.logical_date.ToNanoseconds() for r in listing.dag_runs]
                assert logical, "the cron DAG was never scheduled"
                assert len(logical) == len(set(logical)), "a scheduled run was created twice"
    finally:
        for scheduler in schedulers:
            scheduler.stop()
