"""Serialised DAGs built by hand (without the SDK), and registering them like a processor."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from protos.dag_processor.v1 import request_response_pb2 as processor_rr
from protos.enums.v1 import task_instance_pb2 as ti_enums
from tests.helpers.state import StateClient

START = datetime(2026, 1, 1, tzinfo=UTC)


def seconds(value: float) -> Duration:
    duration = Duration()
    duration.FromTimedelta(timedelta(seconds=value))
    return duration


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def make_dag(
    dag_id: str,
    tasks: Mapping[str, Sequence[str]],
    *,
    file: str = "",
    cron: str = "",
    paused: bool = False,
    max_active_runs: int = 16,
    max_active_tasks: int = 16,
    retries: int = 0,
    pool: str = "default_pool",
    queue: str = "default",
    description: str = "",
    tags: Sequence[str] = (),
    setups: Sequence[str] = (),
    teardowns: Sequence[str] = (),
    map_lengths: Mapping[str, dag_pb2.MapLength] | None = None,
    assets: dag_pb2.AssetCondition | None = None,
    outlets: Mapping[str, Sequence[dag_pb2.TaskAsset]] | None = None,
    partitioning: dag_pb2.AssetPartitioning | None = None,
) -> dag_pb2.SerializedDag:
    """A serialised DAG: ``tasks`` maps each task id to its upstream task ids.

    ``setups`` and ``teardowns`` name the tasks with those roles (teardowns get their trigger
    rule, all_done_setup_success); ``map_lengths`` makes tasks mapped; ``assets`` schedules the
    DAG on assets and ``outlets`` gives tasks their outlets; ``partitioning`` (with ``assets``)
    makes it a partitioned consumer.
    """
    mapped = dict(map_lengths or {})
    schedule = (
        dag_pb2.Schedule(cron=cron, description=cron, timezone="UTC")
        if cron
        else dag_pb2.Schedule()
    )
    definition = dag_pb2.DagDefinition(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=ts(START),
        catchup=False,
        max_active_runs=max_active_runs,
        max_active_tasks=max_active_tasks,
        params_json="{}",
        tags=sorted(tags),
        owners=["airflow"],
        is_paused_upon_creation=paused,
        fileloc=f"/dags/{file or dag_id + '.py'}",
        relative_fileloc=file or f"{dag_id}.py",
        tasks=[
            dag_pb2.TaskDefinition(
                task_id=task_id,
                operator="PythonOperator",
                upstream_task_ids=sorted(upstream),
                trigger_rule=(
                    ti_enums.TRIGGER_RULE_ALL_DONE_SETUP_SUCCESS
                    if task_id in teardowns
                    else ti_enums.TRIGGER_RULE_ALL_SUCCESS
                ),
                is_setup=task_id in setups,
                is_teardown=task_id in teardowns,
                retries=retries,
                retry_delay=seconds(1),
                pool=pool,
                pool_slots=1,
                queue=queue,
                priority_weight=1,
                weight_rule=ti_enums.PRIORITY_WEIGHT_RULE_DOWNSTREAM,
                map_length=mapped.get(task_id),
                outlets=list((outlets or {}).get(task_id, ())),
            )
            for task_id, upstream in sorted(tasks.items())
        ],
    )
    if assets is not None:
        definition.schedule.assets.CopyFrom(assets)
    if partitioning is not None:
        definition.schedule.partitioning.CopyFrom(partitioning)
    content_hash = hashlib.sha256(definition.SerializeToString(deterministic=True)).hexdigest()
    return dag_pb2.SerializedDag(definition=definition, content_hash=content_hash)


async def register_dags(
    client: StateClient,
    dags: Sequence[dag_pb2.SerializedDag],
    *,
    processor_id: str = "test-processor",
) -> list[processor_pb2.FileParseOutcome]:
    """Register DAGs the way a DAG processor does: lease their files, report them."""
    by_file: dict[str, list[dag_pb2.SerializedDag]] = {}
    for dag in dags:
        by_file.setdefault(dag.definition.relative_fileloc, []).append(dag)
    await client.processor.AcquireDagFileLeases(
        processor_rr.AcquireDagFileLeasesRequest(
            processor_id=processor_id, relative_filelocs=list(by_file), lease_duration=seconds(60)
        )
    )
    response = await client.processor.ReportParseResults(
        processor_rr.ReportParseResultsRequest(
            processor_id=processor_id,
            results=[
                processor_pb2.FileParseResult(
                    relative_fileloc=path, fileloc=f"/dags/{path}", dags=file_dags
                )
                for path, file_dags in by_file.items()
            ],
        )
    )
    return list(response.outcomes)
