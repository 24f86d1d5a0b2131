"""A DAG's structure as the contract's ``SerializedDag``, with a stable content hash.

The hash covers everything but ``fileloc`` (absolute paths differ between hosts), so the
same DAG gives the same hash in every process and on every host, and any change to its
tasks, edges, arguments or schedule changes it. A mapped task carries its ``MapLength``:
where its number of map indexes comes from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from core.mapping import LengthSpec
from core.proto_enums import TRIGGER_RULES
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from tradewind.sdk.assets import (
    condition_message,
    is_task_asset,
    task_asset_message,
    watcher_messages,
)
from tradewind.sdk.exceptions import DagDefinitionError
from tradewind.sdk.mapped_operator import MappedOperator
from tradewind.sdk.params import params_json
from tradewind.sdk.timetables import schedule_message
from tradewind.sdk.xcom_arg import ResolveMixin

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def serialize_dag(dag: DAG, *, fileloc: str, relative_fileloc: str) -> dag_pb2.SerializedDag:
    """Serialise ``dag`` for the state service.

    Args:
        dag: the DAG; it is validated first.
        fileloc: the absolute path of its file, as the DAG processor sees it.
        relative_fileloc: the path relative to the DAG folder.

    Returns:
        The definition and its content hash.

    Raises:
        DagDefinitionError: when the DAG is invalid.

    """
    dag.validate()
    definition = dag_definition(dag, fileloc=fileloc, relative_fileloc=relative_fileloc)
    return dag_pb2.SerializedDag(definition=definition, content_hash=content_hash(definition))


def content_hash(definition: dag_pb2.DagDefinition) -> str:
    """The hex SHA-256 of the deterministic serialisation of ``definition`` without fileloc.

    Args:
        definition: a DAG definition.

    Returns:
        64 hex digits.

    """
    canonical = dag_pb2.DagDefinition()
    canonical.CopyFrom(definition)
    canonical.ClearField("fileloc")
    return hashlib.sha256(canonical.SerializeToString(deterministic=True)).hexdigest()


def dag_definition(dag: DAG, *, fileloc: str, relative_fileloc: str) -> dag_pb2.DagDefinition:
    """The contract's ``DagDefinition`` of ``dag`` (not validated; see ``serialize_dag``).

    Args:
        dag: the DAG.
        fileloc: the absolute path of its file.
        relative_fileloc: the path relative to the DAG folder.

    Returns:
        The definition, tasks sorted by task id.

    """
    spec = dag.schedule_spec
    try:
        schedule = schedule_message(spec.timetable)
    except ValueError as err:
        raise DagDefinitionError(f"schedule: {err}", dag_id=dag.dag_id) from err
    schedule.description = spec.description
    schedule.timezone = dag.timezone_name
    if spec.assets is not None:
        schedule.assets.CopyFrom(condition_message(spec.assets))
    definition = dag_pb2.DagDefinition(
        dag_id=dag.dag_id,
        description=dag.description or "",
        doc_md=dag.doc_md or "",
        schedule=schedule,
        catchup=dag.catchup,
        max_active_runs=dag.max_active_runs,
        max_active_tasks=dag.max_active_tasks,
        params_json=params_json(dag.params),
        tags=sorted(set(dag.tags)),
        owners=dag.owners,
        is_paused_upon_creation=bool(dag.is_paused_upon_creation),
        tasks=[task_definition(dag.task_dict[i]) for i in sorted(dag.task_dict)],
        fileloc=fileloc,
        relative_fileloc=relative_fileloc,
    )
    try:
        definition.asset_watchers.extend(watcher_messages(spec.assets))
    except (TypeError, ValueError) as err:
        raise DagDefinitionError(f"asset watcher: {err}", dag_id=dag.dag_id) from err
    if dag.start_date is not None:
        definition.start_date.CopyFrom(_timestamp(dag.start_date))
    if dag.end_date is not None:
        definition.end_date.CopyFrom(_timestamp(dag.end_date))
    if dag.dagrun_timeout is not None:
        definition.dagrun_timeout.CopyFrom(_duration(dag.dagrun_timeout))
    return definition


def task_definition(task: BaseOperator) -> dag_pb2.TaskDefinition:
    """The contract's ``TaskDefinition`` of ``task``.

    Args:
        task: the task.

    Returns:
        The definition, upstream ids sorted.

    """
    group_id = task.task_group.group_id if task.task_group is not None else None
    definition = dag_pb2.TaskDefinition(
        task_id=task.task_id,
        operator=task.operator_name,
        upstream_task_ids=sorted(task.upstream_task_ids),
        trigger_rule=TRIGGER_RULES.to_proto(task.trigger_rule),
        retries=task.retries,
        retry_delay=_duration(task.retry_delay),
        retry_exponential_backoff=task.retry_exponential_backoff,
        pool=task.pool,
        pool_slots=task.pool_slots,
        queue=task.queue,
        run_as_user=task.run_as_user or "",
        priority_weight=task.priority_weight,
        weight_rule=ti_enums.PriorityWeightRule.Value(
            f"PRIORITY_WEIGHT_RULE_{task.weight_rule.name}"
        ),
        task_group_id=group_id or "",
        doc_md=task.doc_md or "",
        has_on_success_callback=bool(task.on_success_callback),
        has_on_failure_callback=bool(task.on_failure_callback),
        has_on_retry_callback=bool(task.on_retry_callback),
        fields_json=fields_json(task),
        is_setup=task.is_setup,
        is_teardown=task.is_teardown,
        on_failure_fail_dagrun=task.on_failure_fail_dagrun,
        upstream_edge_labels=_edge_labels(task),
    )
    if task.max_retry_delay is not None:
        definition.max_retry_delay.CopyFrom(_duration(task.max_retry_delay))
    if task.execution_timeout is not None:
        definition.execution_timeout.CopyFrom(_duration(task.execution_timeout))
    definition.outlets.extend(task_asset_message(o) for o in task.outlets if is_task_asset(o))
    definition.inlets.extend(task_asset_message(i) for i in task.inlets if is_task_asset(i))
    marker = getattr(task, "external_marker_spec", None)
    if marker is not None:
        definition.external_marker.CopyFrom(marker)
    if task.is_mapped:
        definition.map_length.CopyFrom(map_length_message(task))
        definition.map_index_template = task.map_index_template or ""
        group = task.mapped_task_group()
        definition.mapped_group_id = group.group_id or "" if group is not None else ""
    return definition


def map_length_message(task: BaseOperator) -> dag_pb2.MapLength:
    """Where a mapped task's number of map indexes comes from, as the contract's MapLength.

    ``expand(x=[1, 2, 3])`` gives ``literal: 3``; ``expand(x=up())`` gives
    ``upstream_task_id: "up"``; several arguments give ``product`` of theirs (one argument
    gives its own); ``a.zip(b)`` gives ``zip`` (``zip_longest`` with a fill value),
    ``a.concat(b)`` ``concat``, and ``a.map(f)`` the length of ``a``. ``expand_kwargs`` gives
    the length of its list or of its XComArg. See ``tradewind.sdk.map_length``.

    Args:
        task: a mapped task (``task.is_mapped``).

    Returns:
        The message.

    Raises:
        ValueError: the task is not mapped.

    """
    if not task.is_mapped:
        raise ValueError(f"task {task.task_id!r} is not mapped")
    return length_message(task.map_length_spec())


def length_message(spec: LengthSpec) -> dag_pb2.MapLength:
    """The contract's MapLength of ``spec``.

    Args:
        spec: a map length as data.

    Returns:
        The message.

    """
    if spec.kind == "literal":
        return dag_pb2.MapLength(literal=spec.value)
    if spec.kind == "upstream":
        return dag_pb2.MapLength(upstream_task_id=spec.task_id)
    parts = dag_pb2.MapLengths(parts=[length_message(part) for part in spec.parts])
    message = dag_pb2.MapLength()
    getattr(message, spec.kind).CopyFrom(parts)  # product, zip, zip_longest, concat
    return message


def _edge_labels(task: BaseOperator) -> dict[str, str]:
    dag = task.dag
    if dag is None:
        return {}
    labels = {}
    for upstream in sorted(task.upstream_task_ids):
        label = dag.get_edge_info(upstream, task.task_id).get("label")
        if label:
            labels[upstream] = str(label)
    return labels


def fields_json(task: BaseOperator) -> str:
    """The operator's own fields for display: templated fields (unrendered) and a few others.

    Values that are not JSON are shown by name (functions) or by their ``repr`` without
    memory addresses, so the text is the same in every process.

    Args:
        task: the task.

    Returns:
        A compact JSON object with sorted keys.

    """
    names = list(dict.fromkeys([*task.template_fields, *task.display_fields]))
    values = (
        task.written_fields(names)
        if isinstance(task, MappedOperator)
        else {name: getattr(task, name, None) for name in names}
    )
    shown = {name: display_value(value) for name, value in values.items()}
    return json.dumps(shown, sort_keys=True, separators=(",", ":"))


def display_value(value: Any) -> Any:
    """``value`` as deterministic JSON data, for display.

    Args:
        value: any operator field.

    Returns:
        JSON-compatible data.

    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, ResolveMixin):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(key): display_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [display_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((display_value(item) for item in value), key=repr)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return _ADDRESS.sub("", repr(value))


def _duration(value: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(value)
    return duration


def _timestamp(value: datetime) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(value.astimezone(UTC).replace(tzinfo=None))
    return timestamp
