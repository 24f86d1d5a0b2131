"""Clients killed in the middle of their streams and long polls never bring the state down.

Found by the fault suite: a state service crashed (SIGSEGV in gRPC's C core) when it logged the
end of a stream whose client had been SIGKILLed, because the call was already freed. Runs are
triggered all along so that the streams carry events when their clients vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import sys

from grpc_health.v1 import health_pb2

from protos.api.v1 import request_response_pb2 as api_rr
from tests.helpers.dags import make_dag, register_dags
from tests.helpers.processes import REPO_ROOT, ServiceProcess, child_environment, health_status
from tests.helpers.state import StateClient, state_client

ROUNDS = 15
CLIENTS = 4


def _start_clients(address: str) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.faults.vanishing_client", address],
            cwd=REPO_ROOT,
            env=child_environment(),
            stderr=subprocess.DEVNULL,
        )
        for _ in range(CLIENTS)
    ]


def _kill(clients: list[subprocess.Popen[bytes]]) -> None:
    for process in clients:
        process.send_signal(signal.SIGKILL)
        process.wait()


async def _churn(client: StateClient, dag_id: str) -> None:
    number = 0
    while True:
        number += 1
        await client.api.TriggerDagRun(
            api_rr.TriggerDagRunRequest(dag_id=dag_id, run_id=f"churn_{number}")
        )
        await asyncio.sleep(0.01)


async def test_the_state_survives_clients_killed_mid_stream(
    state_service: ServiceProcess,
) -> None:
    chance = random.Random(20261125)
    async with state_client(state_service.address) as client:
        dag_id = f"vanishing_{chance.randrange(10**6)}"
        await register_dags(client, [make_dag(dag_id, {"t": []}, max_active_runs=1)])
        churn = asyncio.create_task(_churn(client, dag_id))
        try:
            for _ in range(ROUNDS):
                clients = _start_clients(state_service.address)
                await asyncio.sleep(chance.uniform(0.5, 1.0))
                _kill(clients)
                assert state_service.process is not None
                assert state_service.process.poll() is None, state_service.output()[-5000:]
        finally:
            churn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await churn
    assert health_status(state_service.address) == health_pb2.HealthCheckResponse.SERVING
