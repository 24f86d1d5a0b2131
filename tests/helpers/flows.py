"""Driving the state service the way a scheduler and an executor do, step by step."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar, cast

import grpc
from google.rpc import status_pb2

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2, task_instance_pb2
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.executor.v1 import request_response_pb2 as executor_rr
from protos.run.v1 import message_pb2 as run_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from protos.scheduler.v1 import request_response_pb2 as scheduler_rr
from tests.helpers.dags import seconds
from tests.helpers.state import StateClient

T = TypeVar("T")
TI = task_instance_pb2
RUN = dag_run_pb2


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def trigger(client: StateClient, dag_id: str, **fields: object) -> run_pb2.DagRun:
    response = await client.api.TriggerDagRun(api_rr.TriggerDagRunRequest(dag_id=dag_id, **fields))  # type: ignore[arg-type]
    return response.dag_run


async def claim(
    client: StateClient, scheduler_id: str, max_runs: int = 100, duration: float = 30
) -> list[run_pb2.DagRunKey]:
    response = await client.scheduler.ClaimDagRuns(
        scheduler_rr.ClaimDagRunsRequest(
            scheduler_id=scheduler_id, max_runs=max_runs, claim_duration=seconds(duration)
        )
    )
    return [c.key for c in response.claims]


async def snapshot(
    client: StateClient, scheduler_id: str, run: run_pb2.DagRun
) -> scheduler_pb2.DagRunSnapshot:
    response = await client.scheduler.GetSchedulingSnapshot(
        scheduler_rr.GetSchedulingSnapshotRequest(
            scheduler_id=scheduler_id,
            keys=[run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id)],
        )
    )
    (result,) = response.dag_runs
    return result


async def start_run(
    client: StateClient, scheduler_id: str, run: run_pb2.DagRun
) -> scheduler_pb2.TransitionOutcome:
    response = await client.scheduler.ApplyTransitions(
        scheduler_rr.ApplyTransitionsRequest(
            scheduler_id=scheduler_id,
            dag_run_transitions=[
                scheduler_pb2.DagRunTransition(
                    key=run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id),
                    expected_state=RUN.DAG_RUN_STATE_QUEUED,
                    new_state=RUN.DAG_RUN_STATE_RUNNING,
                    expected_run_generation=run.generation,
                )
            ],
        )
    )
    return response.dag_run_outcomes[0]


async def move(
    client: StateClient,
    scheduler_id: str,
    run: run_pb2.DagRun,
    task_ids: list[str],
    new_state: int,
    *,
    expected_state: int = TI.TASK_INSTANCE_STATE_NONE,
    expected_try_number: int = 0,
) -> list[scheduler_pb2.TransitionOutcome]:
    response = await client.scheduler.ApplyTransitions(
        scheduler_rr.ApplyTransitionsRequest(
            scheduler_id=scheduler_id,
            task_instance_transitions=[
                scheduler_pb2.TaskInstanceTransition(
                    key=run_pb2.TaskInstanceKey(
                        dag_id=run.dag_id, run_id=run.run_id, task_id=task_id
                    ),
                    expected_state=expected_state,  # type: ignore[arg-type]
                    expected_try_number=expected_try_number,
                    new_state=new_state,  # type: ignore[arg-type]
                    expected_run_generation=run.generation,
                )
                for task_id in task_ids
            ],
        )
    )
    return list(response.task_instance_outcomes)


async def lease(
    client: StateClient,
    executor_id: str,
    max_leases: int = 10,
    *,
    duration: float = 30,
    wait: float = 0,
    queues: list[str] | None = None,
) -> list[executor_pb2.LeasedTry]:
    response = await client.executor.LeaseTaskInstances(
        executor_rr.LeaseTaskInstancesRequest(
            executor_id=executor_id,
            queues=queues or [],
            max_leases=max_leases,
            lease_duration=seconds(duration),
            wait=seconds(wait),
        )
    )
    return list(response.tries)


async def complete(
    client: StateClient,
    executor_id: str,
    leased: executor_pb2.LeasedTry,
    outcome: int,
    **fields: object,
) -> run_pb2.TaskInstance:
    response = await client.executor.CompleteTaskInstance(
        executor_rr.CompleteTaskInstanceRequest(
            executor_id=executor_id,
            lease=leased.lease,
            outcome=outcome,  # type: ignore[arg-type]
            **fields,  # type: ignore[arg-type]
        )
    )
    return response.task_instance


def error_detail(error: grpc.aio.AioRpcError, detail_type: type[T]) -> T:
    """The typed detail a failed call carries in its google.rpc.Status."""
    metadata: Any = error.trailing_metadata() or ()
    for key, value in metadata:
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for packed in status.details:
                detail: Any = detail_type()
                if packed.Unpack(detail):
                    return cast(T, detail)
    raise AssertionError(f"no {detail_type.__name__} in the error's details")
