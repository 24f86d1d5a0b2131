"""Conversions at the edge: database rows to protobuf messages, and protobuf times to Python."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.proto_enums import DAG_RUN_STATES, DAG_RUN_TYPES, TASK_INSTANCE_STATES, TRY_OUTCOMES
from protos.asset.v1 import message_pb2 as asset_pb2
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import task_instance_pb2
from protos.event.v1 import message_pb2 as event_pb2
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.protoconv import optional_duration, timestamp
from services.state.crypto import REDACTED, SecretBox
from services.state.db import models
from services.state.store import resources
from services.state.store.assets import AssetDetails, EventView, QueuedEvent
from services.state.store.catalog import DagFileView, DagView
from services.state.store.partitions import PendingPartition, QueuedPartitionEvent
from services.state.store.pools import PoolUsage
from services.state.store.resources import ConnectionValues


def dag_to_proto(
    row: models.Dag,
    definition: dag_pb2.DagDefinition | None = None,
    *,
    include_definition: bool = True,
) -> dag_pb2.Dag:
    """The public view of a DAG with its version's schedule (and definition if asked)."""
    message = dag_pb2.Dag(
        dag_id=row.dag_id,
        is_paused=row.is_paused,
        is_active=row.is_active,
        description=row.description,
        fileloc=row.fileloc,
        relative_fileloc=row.relative_fileloc,
        owners=json.loads(row.owners_json),
        tags=json.loads(row.tags_json),
        max_active_runs=row.max_active_runs,
        max_active_tasks=row.max_active_tasks,
        team=row.team,
        next_dagrun_logical_date=timestamp(row.next_dagrun_logical_date),
        next_dagrun_data_interval_start=timestamp(row.next_dagrun_data_interval_start),
        next_dagrun_data_interval_end=timestamp(row.next_dagrun_data_interval_end),
        next_dagrun_create_after=timestamp(row.next_dagrun_create_after),
        last_parsed_at=timestamp(row.last_parsed_at),
        content_hash=row.content_hash,
        task_count=row.task_count,
    )
    if definition is not None:
        message.schedule.CopyFrom(definition.schedule)
        if include_definition:
            message.definition.CopyFrom(definition)
    return message


def dag_view_to_proto(view: DagView, *, include_definition: bool = False) -> dag_pb2.Dag:
    """The public view of a DAG read by the catalog."""
    return dag_to_proto(view.row, view.definition, include_definition=include_definition)


def dag_file_view_to_proto(view: DagFileView) -> dag_pb2.DagFile:
    """One DAG file read by the catalog."""
    return dag_file_to_proto(view.row, has_import_error=view.has_import_error)


def run_to_proto(row: models.DagRun, counts: Mapping[str, int] | None = None) -> run_pb2.DagRun:
    """The public view of a DAG run, with task instance counts by state when given."""
    return run_pb2.DagRun(
        dag_id=row.dag_id,
        run_id=row.run_id,
        run_type=DAG_RUN_TYPES.to_proto(row.run_type),
        state=DAG_RUN_STATES.to_proto(row.state),
        logical_date=timestamp(row.logical_date),
        data_interval_start=timestamp(row.data_interval_start),
        data_interval_end=timestamp(row.data_interval_end),
        conf_json=row.conf_json,
        queued_at=timestamp(row.queued_at),
        start_date=timestamp(row.start_date),
        end_date=timestamp(row.end_date),
        dag_content_hash=row.dag_content_hash,
        claimed_by=row.claimed_by or "",
        claim_expires_at=timestamp(row.claim_expires_at),
        note=row.note,
        task_instance_counts=[
            run_pb2.StateCount(state=TASK_INSTANCE_STATES.to_proto(state), count=count)
            for state, count in sorted((counts or {}).items())
        ],
        generation=row.generation,
        partition_key=row.partition_key or "",
        partition_date=timestamp(row.partition_date),
    )


def ti_key(
    row: models.TaskInstance | models.TaskInstanceTry | models.XCom,
) -> run_pb2.TaskInstanceKey:
    """The key of the task instance a row belongs to (no map index for an unmapped one)."""
    return run_pb2.TaskInstanceKey(
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index if row.map_index >= 0 else None,
    )


def ti_to_proto(
    row: models.TaskInstance, trigger: models.Trigger | None = None
) -> run_pb2.TaskInstance:
    """The public view of a task instance (with the trigger it waits on, when deferred)."""
    error = (
        run_pb2.TryError(
            exception_type=row.error_type, message=row.error_message, traceback=row.error_traceback
        )
        if row.error_type or row.error_message
        else None
    )
    return run_pb2.TaskInstance(
        **_scheduling_fields(row),
        queue=row.queue,
        operator=row.operator,
        queued_at=timestamp(row.queued_at),
        duration=optional_duration(row.duration_seconds),
        lease_owner=row.lease_owner or "",
        hostname=row.hostname,
        pid=row.pid or 0,
        last_error=error,
        rendered_map_index=row.rendered_map_index,
        trigger=trigger_to_proto(row, trigger) if trigger is not None else None,
        reschedule_count=row.reschedule_count,
    )


def trigger_to_proto(ti: models.TaskInstance, row: models.Trigger) -> run_pb2.TaskTrigger:
    """The trigger a deferred task instance waits on."""
    return run_pb2.TaskTrigger(
        trigger_id=row.id,
        classpath=row.classpath,
        kwargs_json=row.kwargs_json,
        next_method=ti.next_method,
        created_at=timestamp(row.created_at),
        triggerer_id=row.lease_owner or "",
    )


def _scheduling_fields(row: Any) -> dict[str, Any]:
    return {
        "key": ti_key(row),
        "state": TASK_INSTANCE_STATES.to_proto(row.state),
        "try_number": row.try_number,
        "max_tries": row.max_tries,
        "pool": row.pool,
        "pool_slots": row.pool_slots,
        "priority_weight": row.priority_weight,
        "start_date": timestamp(row.start_date),
        "end_date": timestamp(row.end_date),
        "lease_expires_at": timestamp(row.lease_expires_at),
        "next_retry_at": timestamp(row.next_retry_at),
        "trigger_timeout_at": timestamp(row.trigger_timeout),
        "output_length": row.output_length,
    }


def ti_scheduling_view(row: Any) -> run_pb2.TaskInstance:
    """A task instance with only what the scheduler decides on (a row of SCHEDULING_COLUMNS).

    Snapshots of big runs are read on every scheduling pass; leaving out the rest (errors,
    hosts, leases' owners) saves reading, building and sending it.
    """
    return run_pb2.TaskInstance(**_scheduling_fields(row))


def try_to_proto(row: models.TaskInstanceTry) -> run_pb2.TaskInstanceTry:
    """The record of one try."""
    error = (
        run_pb2.TryError(
            exception_type=row.error_type, message=row.error_message, traceback=row.error_traceback
        )
        if row.error_type or row.error_message
        else None
    )
    return run_pb2.TaskInstanceTry(
        key=ti_key(row),
        try_number=row.try_number,
        state=TASK_INSTANCE_STATES.to_proto(row.state),
        outcome=(
            TRY_OUTCOMES.to_proto(row.outcome)
            if row.outcome
            else task_instance_pb2.TRY_OUTCOME_UNSPECIFIED
        ),
        start_date=timestamp(row.start_date),
        end_date=timestamp(row.end_date),
        duration=optional_duration(row.duration_seconds),
        executor_id=row.executor_id,
        hostname=row.hostname,
        pid=row.pid or 0,
        error=error,
        queued_at=timestamp(row.queued_at),
        process_started_at=timestamp(row.process_started_at),
    )


def xcom_to_proto(row: models.XCom) -> run_pb2.XCom:
    """One XCom value."""
    return run_pb2.XCom(
        key=ti_key(row),
        xcom_key=row.key,
        value_json=row.value_json,
        timestamp=timestamp(row.timestamp),
    )


def task_state_to_proto(row: models.TaskState, key: Any) -> run_pb2.TaskStateEntry:
    """One key of a task instance's task state store (``key`` names the task instance)."""
    return run_pb2.TaskStateEntry(
        key=run_pb2.TaskInstanceKey(
            dag_id=key.dag_id,
            run_id=key.run_id,
            task_id=key.task_id,
            map_index=key.map_index if key.map_index >= 0 else None,
        ),
        state_key=row.key,
        value_json=row.value_json,
        updated_at=timestamp(row.updated_at),
        expires_at=timestamp(row.expires_at),
    )


def log_to_proto(row: models.TaskLog) -> run_pb2.LogLine:
    """One log line."""
    return run_pb2.LogLine(
        sequence=row.sequence,
        timestamp=timestamp(row.timestamp),
        stream=row.stream,  # type: ignore[arg-type]
        level=row.level,
        message=row.message,
    )


def event_to_proto(row: models.Event) -> event_pb2.Event:
    """One change event."""
    return event_pb2.Event(
        cursor=row.id,
        type=row.type,  # type: ignore[arg-type]
        time=timestamp(row.time),
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        try_number=row.try_number,
        task_instance_state=row.task_instance_state,  # type: ignore[arg-type]
        previous_task_instance_state=row.previous_task_instance_state,  # type: ignore[arg-type]
        dag_run_state=row.dag_run_state,  # type: ignore[arg-type]
        previous_dag_run_state=row.previous_dag_run_state,  # type: ignore[arg-type]
        queue=row.queue,
        pool=row.pool,
        map_index=row.map_index if row.map_index >= 0 else None,
    )


def variable_to_proto(row: models.Variable, secrets: SecretBox) -> resource_pb2.Variable:
    """One variable, its value decrypted with ``secrets``.

    Raises:
        Refused: the value was encrypted with a key the service does not have.

    """
    value = resources.variable_value(row, secrets)
    return resource_pb2.Variable(key=row.key, value=value, description=row.description)


def dag_warning_to_proto(row: models.DagWarning) -> dag_pb2.DagWarning:
    """One DAG warning."""
    return dag_pb2.DagWarning(
        dag_id=row.dag_id,
        warning_type=row.warning_type,
        message=row.message,
        timestamp=timestamp(row.timestamp),
    )


def import_error_to_proto(row: models.ImportError) -> dag_pb2.ImportError:
    """One import error."""
    return dag_pb2.ImportError(
        filename=row.fileloc,
        relative_filename=row.relative_fileloc,
        message=row.message,
        line_number=row.line_number,
        stacktrace=row.stacktrace,
        timestamp=timestamp(row.timestamp),
        processor_id=row.processor_id,
    )


def dag_file_to_proto(row: models.DagFile, *, has_import_error: bool) -> dag_pb2.DagFile:
    """One DAG file with its last parse."""
    return dag_pb2.DagFile(
        relative_fileloc=row.relative_fileloc,
        fileloc=row.fileloc,
        dag_ids=json.loads(row.dag_ids_json),
        last_parsed_at=timestamp(row.last_parsed_at),
        last_parse_duration=optional_duration(row.last_parse_seconds),
        last_parsed_by=row.last_parsed_by,
        lease_owner=row.lease_owner or "",
        has_import_error=has_import_error,
    )


def pool_to_proto(usage: PoolUsage) -> resource_pb2.Pool:
    """The public view of a pool with its usage."""
    return resource_pb2.Pool(
        name=usage.name,
        slots=usage.slots,
        description=usage.description,
        running_slots=usage.running,
        queued_slots=usage.queued,
        open_slots=usage.open_slots,
        include_deferred=usage.include_deferred,
    )


def connection_to_proto(
    row: models.Connection, secrets: SecretBox | None = None
) -> resource_pb2.Connection:
    """A connection with its secrets decrypted by ``secrets``, or redacted without it.

    Raises:
        Refused: the secrets were encrypted with another key.

    """

    def shown(encrypted: str) -> str:
        if not encrypted:
            return ""
        return secrets.decrypt(encrypted) if secrets is not None else REDACTED

    message = resource_pb2.Connection(
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        host=row.host,
        schema=row.schema,
        login=row.login,
        password=shown(row.password_encrypted),
        extra_json=shown(row.extra_encrypted),
        description=row.description,
    )
    if row.port is not None:
        message.port = row.port
    return message


def connection_values(message: resource_pb2.Connection) -> ConnectionValues:
    """The store's view of a connection as a caller sends it."""
    return ConnectionValues(
        conn_id=message.conn_id,
        conn_type=message.conn_type,
        host=message.host,
        schema=message.schema,
        login=message.login,
        password=message.password,
        port=message.port if message.HasField("port") else None,
        extra_json=message.extra_json,
        description=message.description,
    )


def asset_to_proto(row: models.Asset) -> dag_pb2.Asset:
    """An asset's definition."""
    return dag_pb2.Asset(name=row.name, uri=row.uri, group=row.group, extra_json=row.extra_json)


def asset_state_entry_to_proto(row: models.AssetState) -> asset_pb2.AssetStateEntry:
    """The contract's message of one key of an asset's state store."""
    return asset_pb2.AssetStateEntry(
        key=row.key,
        value_json=row.value_json,
        updated_at=timestamp(row.updated_at),
        writer_kind=row.writer_kind,
        writer_dag_id=row.writer_dag_id,
        writer_run_id=row.writer_run_id,
        writer_task_id=row.writer_task_id,
        writer_map_index=row.writer_map_index,
    )


def asset_event_to_proto(view: EventView) -> asset_pb2.AssetEvent:
    """An asset event with its asset."""
    event = view.event
    return asset_pb2.AssetEvent(
        id=event.id,
        asset=asset_to_proto(view.asset),
        extra_json=event.extra_json,
        source_dag_id=event.source_dag_id,
        source_task_id=event.source_task_id,
        source_run_id=event.source_run_id,
        source_map_index=event.source_map_index,
        source_aliases=view.aliases,
        timestamp=timestamp(event.timestamp),
        origin=event.origin,
        partition_key=event.partition_key or "",
    )


def asset_details_to_proto(details: AssetDetails) -> asset_pb2.AssetDetails:
    """An asset with its producers, consumers and latest event."""
    message = asset_pb2.AssetDetails(
        asset=asset_to_proto(details.asset),
        created_at=timestamp(details.asset.created_at),
        producing_tasks=[
            asset_pb2.TaskReference(dag_id=d, task_id=t) for d, t in details.producing_tasks
        ],
        scheduled_dag_ids=details.scheduled_dag_ids,
        consuming_tasks=[
            asset_pb2.TaskReference(dag_id=d, task_id=t) for d, t in details.consuming_tasks
        ],
        aliases=details.aliases,
        event_count=details.event_count,
    )
    if details.last_event is not None:
        message.last_event.CopyFrom(asset_event_to_proto(details.last_event))
    return message


def queued_partition_event_to_proto(queued: QueuedPartitionEvent) -> asset_pb2.QueuedPartitionEvent:
    """An event queued for a partitioned consumer."""
    return asset_pb2.QueuedPartitionEvent(
        asset_event_id=queued.event.id,
        asset=asset_to_proto(queued.asset),
        partition_key=queued.event.partition_key or "",
        created_at=timestamp(queued.event.timestamp),
        partition_date=timestamp(queued.event.partition_date),
        asset_aliases=list(queued.aliases),
    )


def pending_partition_to_proto(pending: PendingPartition) -> asset_pb2.PendingPartition:
    """A partition of a consumer waiting for its run, with the events it received."""
    row = pending.row
    return asset_pb2.PendingPartition(
        dag_id=row.target_dag_id,
        partition_key=row.partition_key,
        created_at=timestamp(row.created_at),
        carried_partition_date=timestamp(row.carried_partition_date),
        received=[
            asset_pb2.ReceivedPartitionKey(
                asset_event_id=item.event.id,
                asset=asset_to_proto(item.asset),
                source_partition_key=item.source_partition_key,
                created_at=timestamp(item.event.timestamp),
                asset_aliases=list(item.aliases),
            )
            for item in pending.received
        ],
    )


def queued_event_to_proto(queued: QueuedEvent) -> asset_pb2.QueuedAssetEvent:
    """A queue row of an asset-scheduled DAG."""
    return asset_pb2.QueuedAssetEvent(
        dag_id=queued.dag_id,
        asset=asset_to_proto(queued.asset),
        created_at=timestamp(queued.created_at),
        asset_aliases=list(queued.aliases),
    )
