"""Kill replicas of every service kind under load (short form of the fault suite).

Two replicas of every service on one PostgreSQL run 24 runs of six-task DAGs while replicas
are SIGKILLed and restarted at random moments (a fixed seed, so a failure can be replayed).
Afterwards the state service's own records must show: every run succeeded, every task
instance succeeded once, no two tries of a task instance overlapped, every successful try has
its log and its XCom.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from tests.faults.workload import DAG_SOURCE
from tests.helpers.databases import TemplateDatabases, require_postgres
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import start_state, state_client

#: Replay another sequence of kills with FAULT_SEED=<n>.
SEED = int(os.environ.get("FAULT_SEED", "20261124"))
DAGS = 6
RUNS_PER_DAG = 4
KILLS = 6


@dataclass
class Cluster:
    """Two replicas of every service; knows how to kill and restart any of them."""

    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def addresses(self) -> str:
        return ",".join(p.address for p in self.replicas["state"])

    def restart(self, kind: str, index: int) -> None:
        old = self.replicas[kind][index]
        new = ServiceProcess(args=old.args, port=old.port).start()
        self.replicas[kind][index] = new.wait_serving(timeout=30)

    def stop(self) -> None:
        for kind in ("dag_processor", "scheduler", "executor", "state"):
            for process in self.replicas.get(kind, []):
                process.stop()


@pytest.fixture
def cluster(
    template_databases: TemplateDatabases, postgres_status: str | None, tmp_path: Path
) -> Iterator[tuple[Cluster, Path]]:
    require_postgres(postgres_status)
    dags = tmp_path / "dags"
    dags.mkdir()
    for number in range(DAGS):
        (dags / f"chaos_{number}.py").write_text(DAG_SOURCE.format(dag_id=f"chaos_{number}"))
    url = template_databases.new_url("postgresql")
    cluster = Cluster()
    try:
        cluster.replicas["state"] = [start_state(url) for _ in range(2)]
        address = cluster.addresses()
        cluster.replicas["dag_processor"] = [
            start_service(
                "dag_processor",
                address,
                "--dags-folder",
                str(dags),
                "--scan-interval",
                "0.5",
                "--lease-duration",
                "3",
            )
            for _ in range(2)
        ]
        cluster.replicas["scheduler"] = [
            start_service("scheduler", address, "--claim-duration", "3", "--sweep-interval", "1")
            for _ in range(2)
        ]
        cluster.replicas["executor"] = [
            start_service(
                "executor",
                address,
                "--dags-folder",
                str(dags),
                "--slots",
                "4",
                "--lease-duration",
                "3",
            )
            for _ in range(2)
        ]
        yield cluster, dags
    finally:
        cluster.stop()


@pytest.mark.timeout(300)
async def test_every_run_completes_correctly_while_replicas_are_killed(
    cluster: tuple[Cluster, Path],
) -> None:
    suite, _ = cluster
    chance = random.Random(SEED)
    async with state_client(*suite.addresses().split(",")) as client:
        dag_ids = [f"chaos_{n}" for n in range(DAGS)]
        deadline = time.monotonic() + 60
        while True:
            listed = {d.dag_id for d in (await client.api.ListDags(api_rr.ListDagsRequest())).dags}
            if set(dag_ids) <= listed:
                break
            assert time.monotonic() < deadline, listed
            await asyncio.sleep(0.2)
        runs = []
        for dag_id in dag_ids:
            for number in range(RUNS_PER_DAG):
                response = await client.api.TriggerDagRun(
                    api_rr.TriggerDagRunRequest(
                        dag_id=dag_id, run_id=f"run_{number}", request_id=f"{dag_id}-{number}"
                    )
                )
                runs.append(response.dag_run)

        kills: list[str] = []
        # Every kind at least once, executors and state replicas twice, in a seeded order.
        kinds = ["executor", "state", "scheduler", "dag_processor", "executor", "state"]
        chance.shuffle(kinds)
        for kind in kinds[:KILLS]:
            await asyncio.sleep(chance.uniform(0.3, 1.5))
            index = chance.randrange(2)
            suite.replicas[kind][index].signal(signal.SIGKILL)
            suite.replicas[kind][index].wait(timeout=10)
            kills.append(f"{kind}[{index}]")
            await asyncio.sleep(0.3)
            await asyncio.get_running_loop().run_in_executor(None, suite.restart, kind, index)

        finished: dict[str, int] = {}
        deadline = time.monotonic() + 150
        while len(finished) < len(runs):
            assert time.monotonic() < deadline, (
                f"runs still going after kills {kills}: {len(finished)}/{len(runs)}"
            )
            for run in runs:
                key = run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id)
                current = (await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))).dag_run
                if current.state in (
                    dag_run_pb2.DAG_RUN_STATE_SUCCESS,
                    dag_run_pb2.DAG_RUN_STATE_FAILED,
                ):
                    finished[f"{run.dag_id}/{run.run_id}"] = current.state
            await asyncio.sleep(0.5)
        assert set(finished.values()) == {dag_run_pb2.DAG_RUN_STATE_SUCCESS}, (kills, finished)

        retried = 0
        for run in runs:
            tis = await client.api.ListTaskInstances(
                api_rr.ListTaskInstancesRequest(dag_id=run.dag_id, run_id=run.run_id)
            )
            assert {ti.state for ti in tis.task_instances} == {ti_enums.TASK_INSTANCE_STATE_SUCCESS}
            tries = (
                await client.api.ListTaskInstanceTries(
                    api_rr.ListTaskInstanceTriesRequest(dag_id=run.dag_id, run_id=run.run_id)
                )
            ).tries
            by_task: dict[str, list[run_pb2.TaskInstanceTry]] = {}
            for attempt in tries:
                by_task.setdefault(attempt.key.task_id, []).append(attempt)
            xcoms = await client.api.ListXComs(
                api_rr.ListXComsRequest(dag_id=run.dag_id, run_id=run.run_id)
            )
            pushed = {x.key.task_id: json.loads(x.value_json) for x in xcoms.xcoms}
            for task_id, attempts in by_task.items():
                attempts.sort(key=lambda a: a.try_number)
                retried += len(attempts) - 1
                for earlier, later in itertools.pairwise(attempts):
                    assert earlier.end_date.ToNanoseconds() <= later.start_date.ToNanoseconds(), (
                        f"tries {earlier.try_number} and {later.try_number} of {task_id} overlapped"
                    )
                last = attempts[-1]
                assert last.state == ti_enums.TASK_INSTANCE_STATE_SUCCESS
                logs = await client.api.GetTaskInstanceLogs(
                    api_rr.GetTaskInstanceLogsRequest(key=last.key, try_number=last.try_number)
                )
                assert logs.lines, f"no log for {task_id} try {last.try_number}"
                assert task_id in pushed, f"no XCom of {task_id}"
            assert pushed["join"] == 4 + sum(range(4))
        counts = f"runs: {len(runs)}; task instances: {len(runs) * 6}; tries retried: {retried}"
        print(f"kills: {kills}; {counts}")
