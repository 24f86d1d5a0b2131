"""Faults of every kind under load, on two replicas of every service and a private PostgreSQL.

The workload's workers defer to triggers, so the triggerer replicas carry load too and one of
them is killed while it holds triggers (the short form once, the long form three times).
The short form runs in CI; ``TEST_SCALE=long`` runs several hundred task instances with every
kind of replica killed three times, two database restarts and two frozen executors.
``FAULT_SEED=<n>`` replays another sequence of faults. Run with ``-s`` to see the figures;
``FAULT_LOGS=<folder>`` keeps every replica's log there (the killed ones' too).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from tests.faults.chaos import (
    ABUSE_FILES,
    Cluster,
    Scenario,
    check_asset_events,
    check_partition_runs,
    check_records,
    expected_run_state,
    recoveries,
    report,
    scale_from_environment,
    write_dag_folder,
)
from tests.faults.workload import CONSUMER_DAG, PARTITION_CONSUMER_DAG
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.processes import health_status
from tests.helpers.state import state_client

SEED = int(os.environ.get("FAULT_SEED", "20261125"))
SCALE = scale_from_environment()
SERVING = 1


@pytest.fixture
def cluster(private_postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Cluster]:
    dags = tmp_path / "dags"
    dags.mkdir()
    suite = Cluster(database=private_postgres, dags=dags)
    try:
        suite.start()
        yield suite
    finally:
        suite.stop()
        if os.environ.get("FAULT_LOGS"):
            suite.keep_logs(Path(os.environ["FAULT_LOGS"]))


@pytest.mark.timeout(SCALE.deadline_seconds + 300)
async def test_every_run_completes_correctly_through_every_kind_of_fault(cluster: Cluster) -> None:
    dag_ids = write_dag_folder(cluster.dags, SCALE)
    started = time.monotonic()
    async with state_client(*cluster.state_addresses()) as client:
        deadline = time.monotonic() + 60
        while True:
            listed = {d.dag_id for d in (await client.api.ListDags(api_rr.ListDagsRequest())).dags}
            if {*dag_ids, CONSUMER_DAG, PARTITION_CONSUMER_DAG} <= listed:
                break
            assert time.monotonic() < deadline, listed
            await asyncio.sleep(0.2)

        scenario = Scenario(cluster, client, SCALE, dag_ids, SEED)
        await scenario.play()
        finished = await scenario.wait_for_runs()
        wall = time.monotonic() - started
        wrong = {
            name: state
            for name, state in finished.items()
            if state != expected_run_state(name.split("/")[0])
        }
        assert not wrong, wrong

        # Only the faults struck: no replica crashed by itself along the way.
        assert not scenario.crashes + cluster.exited(), scenario.crashes + cluster.exited()
        # The triggers a killed triggerer held fired on another replica (and the kills did
        # catch triggerers holding some).
        assert not scenario.stranded, scenario.stranded
        killed = [f for f in scenario.faults if f.triggerer_id]
        assert any(f.orphaned_triggers for f in killed), [(f.what, f.at) for f in killed]

        findings = await check_records(client, scenario.runs)
        assert not findings.problems, findings.problems
        asset_problems = await check_asset_events(client, finished)
        assert not asset_problems, asset_problems
        partition_problems = await check_partition_runs(client, finished)
        assert not partition_problems, partition_problems
        print(
            "\n" + report(SCALE, SEED, findings, recoveries(scenario.faults, findings.tries), wall)
        )

        # The files that hang, crash and eat memory were recorded as import errors, and the
        # processors that parsed them beside the workload are still healthy.
        errors = await client.api.ListImportErrors(api_rr.ListImportErrorsRequest())
        assert set(ABUSE_FILES) <= {e.relative_filename for e in errors.import_errors}
    for process in cluster.replicas["dag_processor"] + cluster.replicas["triggerer"]:
        assert health_status(process.address) == SERVING
