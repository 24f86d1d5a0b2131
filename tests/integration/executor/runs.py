"""Running DAG files through real executors: start them, trigger runs, read what happened."""

from __future__ import annotations

import statistics
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.flows import trigger
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import eventually, wait_for_dags, write_dag_file

RUN = dag_run_pb2
FINISHED = (RUN.DAG_RUN_STATE_SUCCESS, RUN.DAG_RUN_STATE_FAILED)

#: What every test DAG file starts with.
DAG_HEADER = """\
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tradewind import DAG, AirflowFailException, BashOperator, TaskSkipped, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""


def start_executor(
    state_address: str, dags_folder: Path, *flags: str, env: Mapping[str, str] | None = None
) -> ServiceProcess:
    """An executor on ``dags_folder``, with ``env`` added to its environment."""
    return start_service(
        "executor", state_address, "--dags-folder", str(dags_folder), *flags, env=env
    )


async def register(
    client: StateClient, folder: Path, relative: str, source: str, dag_ids: Sequence[str]
) -> None:
    """Write a DAG file (after :data:`DAG_HEADER`) and wait until its DAGs are registered."""
    write_dag_file(folder, relative, DAG_HEADER + textwrap.dedent(source))
    await wait_for_dags(client, dag_ids)


async def dag_run(client: StateClient, dag_id: str, run_id: str) -> run_pb2.DagRun:
    """One DAG run."""
    key = run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id)
    return (await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))).dag_run


async def wait_for_run(
    client: StateClient, dag_id: str, run_id: str, *, within: float = 20.0
) -> run_pb2.DagRun:
    """Wait until the run has finished (succeeded or failed); return it."""

    async def finished() -> run_pb2.DagRun | None:
        run = await dag_run(client, dag_id, run_id)
        return run if run.state in FINISHED else None

    return await eventually(finished, within=within, what=f"run {dag_id}/{run_id} finished")


async def run_to_end(client: StateClient, dag_id: str, *, within: float = 20.0) -> run_pb2.DagRun:
    """Trigger a run of ``dag_id`` and wait until it has finished."""
    run = await trigger(client, dag_id)
    return await wait_for_run(client, dag_id, run.run_id, within=within)


async def task_instance(
    client: StateClient, run: run_pb2.DagRun, task_id: str
) -> run_pb2.TaskInstance:
    """A task instance of ``run``."""
    key = run_pb2.TaskInstanceKey(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
    return (await client.api.GetTaskInstance(api_rr.GetTaskInstanceRequest(key=key))).task_instance


async def tries(client: StateClient, run: run_pb2.DagRun) -> list[run_pb2.TaskInstanceTry]:
    """Every try of every task of ``run``, by task and try number."""
    response = await client.api.ListTaskInstanceTries(
        api_rr.ListTaskInstanceTriesRequest(dag_id=run.dag_id, run_id=run.run_id, page_size=1000)
    )
    assert not response.next_page_token
    return list(response.tries)


async def xcom_values(client: StateClient, run: run_pb2.DagRun, task_id: str) -> dict[str, str]:
    """The XComs of one task of ``run``: key -> JSON value."""
    response = await client.api.ListXComs(
        api_rr.ListXComsRequest(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
    )
    return {x.xcom_key: x.value_json for x in response.xcoms}


def seconds_between(start: object, end: object) -> float:
    """Seconds from one protobuf Timestamp to another."""
    return float((end.ToDatetime() - start.ToDatetime()).total_seconds())  # type: ignore[attr-defined]


def describe(samples: Sequence[float]) -> str:
    """Median, p95 and max of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms,"
        f" max {ordered[-1] * 1000:.1f} ms (n={len(ordered)})"
    )
