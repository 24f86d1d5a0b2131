"""What the client returns: frozen dataclasses, converted from the contract's messages here.

Times are aware UTC datetimes (None when unset), durations are timedeltas, states are the
string enums of :mod:`tradewind.client._enums`, and JSON fields are parsed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from protos.asset.v1 import message_pb2 as asset_pb2
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tradewind.client._enums import (
    DAG_RUN_STATES,
    DAG_RUN_TYPES,
    LOG_STREAMS,
    TASK_INSTANCE_STATES,
    TRIGGER_RULES,
    TRY_OUTCOMES,
    DagRunState,
    DagRunType,
    LogStream,
    TaskInstanceState,
    TriggerRule,
    TryOutcome,
)


def _when(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    value: Any = getattr(message, field)
    return value.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def _span(message: Message, field: str) -> timedelta | None:
    if not message.HasField(field):
        return None
    value: Any = getattr(message, field)
    return value.ToTimedelta()  # type: ignore[no-any-return]


def _json(text: str) -> Any:
    return json.loads(text) if text else None


@dataclass(frozen=True, kw_only=True)
class Task:
    """One task of a DAG's current version."""

    task_id: str
    operator: str
    upstream_task_ids: tuple[str, ...]
    trigger_rule: TriggerRule | None
    #: Retries after the first try.
    retries: int
    pool: str
    queue: str
    priority_weight: int
    #: The innermost task group, empty at the top level.
    task_group_id: str
    doc_md: str = ""
    #: A setup task (it makes what the work downstream uses).
    is_setup: bool = False
    #: A teardown task (it runs after the work even when the work failed).
    is_teardown: bool = False
    #: Labels of the edges from upstream tasks, by upstream task id.
    upstream_edge_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, message: dag_pb2.TaskDefinition) -> Task:
        """Convert a ``TaskDefinition``."""
        return cls(
            task_id=message.task_id,
            operator=message.operator,
            upstream_task_ids=tuple(message.upstream_task_ids),
            trigger_rule=TRIGGER_RULES.from_proto(message.trigger_rule),
            retries=message.retries,
            pool=message.pool,
            queue=message.queue,
            priority_weight=message.priority_weight,
            task_group_id=message.task_group_id,
            doc_md=message.doc_md,
            is_setup=message.is_setup,
            is_teardown=message.is_teardown,
            upstream_edge_labels=dict(sorted(message.upstream_edge_labels.items())),
        )


@dataclass(frozen=True, kw_only=True)
class Dag:
    """A DAG as the state service knows it."""

    dag_id: str
    is_paused: bool
    #: False once its file disappeared or stopped defining it.
    is_active: bool
    description: str
    fileloc: str
    relative_fileloc: str
    owners: tuple[str, ...]
    tags: tuple[str, ...]
    #: The schedule as written ("@daily", "timedelta(hours=1)"); None for manual runs only.
    schedule: str | None
    #: The IANA time zone the schedule is evaluated in.
    timezone: str
    max_active_runs: int
    max_active_tasks: int
    next_dagrun_logical_date: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_create_after: datetime | None
    last_parsed_at: datetime | None
    content_hash: str
    task_count: int
    #: The tasks, when asked for (``get_dag(..., include_tasks=True)``); None otherwise.
    tasks: tuple[Task, ...] | None = None
    #: The DAG's documentation (Markdown), when its tasks were asked for.
    doc_md: str = ""
    #: The team that owns it ("" for none).
    team: str = ""

    @classmethod
    def from_proto(cls, message: dag_pb2.Dag) -> Dag:
        """Convert a ``Dag``."""
        schedule = message.schedule
        return cls(
            dag_id=message.dag_id,
            is_paused=message.is_paused,
            is_active=message.is_active,
            description=message.description,
            fileloc=message.fileloc,
            relative_fileloc=message.relative_fileloc,
            owners=tuple(message.owners),
            tags=tuple(message.tags),
            schedule=schedule_text(schedule),
            timezone=schedule.timezone or "UTC",
            max_active_runs=message.max_active_runs,
            max_active_tasks=message.max_active_tasks,
            next_dagrun_logical_date=_when(message, "next_dagrun_logical_date"),
            next_dagrun_data_interval_start=_when(message, "next_dagrun_data_interval_start"),
            next_dagrun_data_interval_end=_when(message, "next_dagrun_data_interval_end"),
            next_dagrun_create_after=_when(message, "next_dagrun_create_after"),
            last_parsed_at=_when(message, "last_parsed_at"),
            content_hash=message.content_hash,
            task_count=message.task_count,
            tasks=(
                tuple(Task.from_proto(t) for t in message.definition.tasks)
                if message.HasField("definition")
                else None
            ),
            doc_md=message.definition.doc_md,
            team=message.team,
        )


@dataclass(frozen=True, kw_only=True)
class DagRun:
    """One run of a DAG."""

    dag_id: str
    run_id: str
    run_type: DagRunType | None
    state: DagRunState
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    #: The run's conf, a JSON object.
    conf: Mapping[str, Any]
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    note: str
    #: How many of the run's task instances are in each state (states with none left out).
    task_counts: Mapping[TaskInstanceState, int]
    #: The partition the run is for ("" for none), and the moment its key names.
    partition_key: str = ""
    partition_date: datetime | None = None

    @property
    def duration(self) -> timedelta | None:
        """From start to end, None until the run has both."""
        if self.start_date is None or self.end_date is None:
            return None
        return self.end_date - self.start_date

    @classmethod
    def from_proto(cls, message: run_pb2.DagRun) -> DagRun:
        """Convert a ``DagRun``."""
        return cls(
            dag_id=message.dag_id,
            run_id=message.run_id,
            run_type=DAG_RUN_TYPES.from_proto(message.run_type),
            state=DAG_RUN_STATES.member(message.state),
            logical_date=_when(message, "logical_date"),
            data_interval_start=_when(message, "data_interval_start"),
            data_interval_end=_when(message, "data_interval_end"),
            conf=_json(message.conf_json) or {},
            queued_at=_when(message, "queued_at"),
            start_date=_when(message, "start_date"),
            end_date=_when(message, "end_date"),
            note=message.note,
            task_counts={
                TASK_INSTANCE_STATES.member(count.state): count.count
                for count in message.task_instance_counts
            },
            partition_key=message.partition_key,
            partition_date=_when(message, "partition_date"),
        )


@dataclass(frozen=True, kw_only=True)
class TryError:
    """Why a try failed, as the task process saw it."""

    #: The exception's qualified class name, e.g. ``ValueError``.
    exception_type: str
    message: str
    traceback: str

    @classmethod
    def from_proto(cls, message: run_pb2.TryError) -> TryError:
        """Convert a ``TryError``."""
        return cls(
            exception_type=message.exception_type,
            message=message.message,
            traceback=message.traceback,
        )


def _error(message: Message, field: str) -> TryError | None:
    if not message.HasField(field):
        return None
    value: Any = getattr(message, field)
    return TryError.from_proto(value)


@dataclass(frozen=True, kw_only=True)
class TaskInstance:
    """A task inside one DAG run, with its current (latest) try."""

    dag_id: str
    run_id: str
    task_id: str
    state: TaskInstanceState
    #: The current or last try, from 1; 0 before the first.
    try_number: int
    max_tries: int
    pool: str
    queue: str
    priority_weight: int
    operator: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: timedelta | None
    hostname: str
    pid: int
    #: When an up_for_retry instance becomes eligible again.
    next_retry_at: datetime | None
    #: The failure of the last try, when it failed.
    last_error: TryError | None
    #: The instance of a mapped task, from 0; -1 for a task that is not mapped.
    map_index: int = -1
    #: The instance's name from its task's map_index_template, when rendered.
    rendered_map_index: str = ""
    #: While deferred: the trigger it waits on, and when that trigger times out.
    trigger: TaskTrigger | None = None
    trigger_timeout_at: datetime | None = None
    #: Reschedules of a reschedule-mode sensor since the instance was last cleared.
    reschedule_count: int = 0

    @classmethod
    def from_proto(cls, message: run_pb2.TaskInstance) -> TaskInstance:
        """Convert a ``TaskInstance``."""
        return cls(
            dag_id=message.key.dag_id,
            run_id=message.key.run_id,
            task_id=message.key.task_id,
            state=TASK_INSTANCE_STATES.member(message.state),
            try_number=message.try_number,
            max_tries=message.max_tries,
            pool=message.pool,
            queue=message.queue,
            priority_weight=message.priority_weight,
            operator=message.operator,
            queued_at=_when(message, "queued_at"),
            start_date=_when(message, "start_date"),
            end_date=_when(message, "end_date"),
            duration=_span(message, "duration"),
            hostname=message.hostname,
            pid=message.pid,
            next_retry_at=_when(message, "next_retry_at"),
            last_error=_error(message, "last_error"),
            map_index=_map_index(message.key),
            rendered_map_index=message.rendered_map_index,
            trigger=(
                TaskTrigger.from_proto(message.trigger) if message.HasField("trigger") else None
            ),
            trigger_timeout_at=_when(message, "trigger_timeout_at"),
            reschedule_count=message.reschedule_count,
        )


@dataclass(frozen=True, kw_only=True)
class TaskTrigger:
    """The trigger a deferred task instance waits on."""

    trigger_id: int
    #: The trigger's class, and its keyword arguments as JSON.
    classpath: str
    kwargs_json: str
    #: The task's method that resumes with the trigger's event.
    next_method: str
    created_at: datetime | None
    #: The triggerer replica running it; empty while none has it.
    triggerer_id: str

    @classmethod
    def from_proto(cls, message: run_pb2.TaskTrigger) -> TaskTrigger:
        """Convert a ``TaskTrigger``."""
        return cls(
            trigger_id=message.trigger_id,
            classpath=message.classpath,
            kwargs_json=message.kwargs_json,
            next_method=message.next_method,
            created_at=_when(message, "created_at"),
            triggerer_id=message.triggerer_id,
        )


@dataclass(frozen=True, kw_only=True)
class TaskInstanceTry:
    """One try of a task instance, kept after later tries replace it."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    #: The state the task instance reached with this try (running while it runs).
    state: TaskInstanceState | None
    #: How the try ended; None while it runs.
    outcome: TryOutcome | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: timedelta | None
    executor_id: str
    hostname: str
    pid: int
    error: TryError | None
    #: The instance of a mapped task, from 0; -1 for a task that is not mapped.
    map_index: int = -1

    @classmethod
    def from_proto(cls, message: run_pb2.TaskInstanceTry) -> TaskInstanceTry:
        """Convert a ``TaskInstanceTry``."""
        return cls(
            dag_id=message.key.dag_id,
            run_id=message.key.run_id,
            task_id=message.key.task_id,
            try_number=message.try_number,
            state=TASK_INSTANCE_STATES.from_proto(message.state),
            outcome=TRY_OUTCOMES.from_proto(message.outcome),
            queued_at=_when(message, "queued_at"),
            start_date=_when(message, "start_date"),
            end_date=_when(message, "end_date"),
            duration=_span(message, "duration"),
            executor_id=message.executor_id,
            hostname=message.hostname,
            pid=message.pid,
            error=_error(message, "error"),
            map_index=_map_index(message.key),
        )


@dataclass(frozen=True, kw_only=True)
class LogLine:
    """One captured line of a try's log."""

    #: Increases by one per line within a try, from 1.
    sequence: int
    #: The try the line belongs to.
    try_number: int
    timestamp: datetime | None
    stream: LogStream | None
    #: For lines of the logging stream: "INFO", "WARNING", ...
    level: str
    message: str

    @classmethod
    def from_proto(cls, message: run_pb2.LogLine, *, try_number: int) -> LogLine:
        """Convert a ``LogLine`` of try ``try_number``."""
        return cls(
            sequence=message.sequence,
            try_number=try_number,
            timestamp=_when(message, "timestamp"),
            stream=LOG_STREAMS.from_proto(message.stream),
            level=message.level,
            message=message.message,
        )


@dataclass(frozen=True, kw_only=True)
class XCom:
    """A value a task pushed for the other tasks of its run."""

    dag_id: str
    run_id: str
    task_id: str
    #: "return_value" for a task's return value.
    key: str
    #: The value, decoded from JSON.
    value: Any
    timestamp: datetime | None
    #: The instance of a mapped task that pushed it; -1 for a task that is not mapped.
    map_index: int = -1

    @classmethod
    def from_proto(cls, message: run_pb2.XCom) -> XCom:
        """Convert an ``XCom``."""
        return cls(
            dag_id=message.key.dag_id,
            run_id=message.key.run_id,
            task_id=message.key.task_id,
            key=message.xcom_key,
            value=_json(message.value_json),
            timestamp=_when(message, "timestamp"),
            map_index=_map_index(message.key),
        )


@dataclass(frozen=True, kw_only=True)
class TaskStateEntry:
    """One key a task instance kept with ``task_state_store.set``."""

    key: str
    #: The value, decoded from JSON.
    value: Any
    updated_at: datetime | None
    #: None: the key never expires.
    expires_at: datetime | None

    @classmethod
    def from_proto(cls, message: run_pb2.TaskStateEntry) -> TaskStateEntry:
        """Convert a ``TaskStateEntry``."""
        return cls(
            key=message.state_key,
            value=_json(message.value_json),
            updated_at=_when(message, "updated_at"),
            expires_at=_when(message, "expires_at"),
        )


@dataclass(frozen=True, kw_only=True)
class Variable:
    """A named value that tasks read at run time."""

    key: str
    value: str
    description: str = ""

    @classmethod
    def from_proto(cls, message: resource_pb2.Variable) -> Variable:
        """Convert a ``Variable``."""
        return cls(key=message.key, value=message.value, description=message.description)

    def to_proto(self) -> resource_pb2.Variable:
        """The contract's ``Variable``."""
        return resource_pb2.Variable(key=self.key, value=self.value, description=self.description)


#: What the API shows instead of a secret that is set.
REDACTED = "***"


@dataclass(frozen=True, kw_only=True)
class Connection:
    """How to reach an external system.

    Listings and plain reads show a set ``password`` and ``extra_json`` as ``"***"``.
    """

    conn_id: str
    #: "postgres", "http", "aws", ...
    conn_type: str
    host: str = ""
    schema: str = ""
    login: str = ""
    password: str = ""
    port: int | None = None
    #: Provider-specific settings: a JSON object, or ``"***"`` when redacted.
    extra_json: str = ""
    description: str = ""

    @property
    def extra(self) -> dict[str, Any]:
        """The extras as a dict; empty when there are none.

        Raises:
            ValueError: the extras are redacted.

        """
        if self.extra_json == REDACTED:
            raise ValueError(f"the extras of connection {self.conn_id!r} are redacted")
        value = _json(self.extra_json)
        return dict(value) if isinstance(value, dict) else {}

    @classmethod
    def from_proto(cls, message: resource_pb2.Connection) -> Connection:
        """Convert a ``Connection``."""
        return cls(
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

    def to_proto(self) -> resource_pb2.Connection:
        """The contract's ``Connection``."""
        message = resource_pb2.Connection(
            conn_id=self.conn_id,
            conn_type=self.conn_type,
            host=self.host,
            schema=self.schema,
            login=self.login,
            password=self.password,
            extra_json=self.extra_json,
            description=self.description,
        )
        if self.port is not None:
            message.port = self.port
        return message


@dataclass(frozen=True, kw_only=True)
class Pool:
    """A named limit on how many slots running tasks may take at once."""

    name: str
    #: Total slots; -1 means unlimited.
    slots: int
    description: str
    running_slots: int
    queued_slots: int
    #: Slots still free; -1 when unlimited.
    open_slots: int
    #: Whether deferred task instances hold slots.
    include_deferred: bool

    @classmethod
    def from_proto(cls, message: resource_pb2.Pool) -> Pool:
        """Convert a ``Pool``."""
        return cls(
            name=message.name,
            slots=message.slots,
            description=message.description,
            running_slots=message.running_slots,
            queued_slots=message.queued_slots,
            open_slots=message.open_slots,
            include_deferred=message.include_deferred,
        )


@dataclass(frozen=True, kw_only=True)
class DagWarning:
    """A problem of a DAG that is not an import error, e.g. a task naming a missing pool."""

    dag_id: str
    #: What kind of problem, e.g. "non-existent pool".
    warning_type: str
    message: str
    timestamp: datetime | None

    @classmethod
    def from_proto(cls, message: dag_pb2.DagWarning) -> DagWarning:
        """Convert a ``DagWarning``."""
        return cls(
            dag_id=message.dag_id,
            warning_type=message.warning_type,
            message=message.message,
            timestamp=_when(message, "timestamp"),
        )


@dataclass(frozen=True, kw_only=True)
class DagImportError:
    """A DAG file that failed to import.

    Named so rather than ``ImportError`` to leave Python's built-in exception unshadowed.
    """

    filename: str
    relative_filename: str
    #: One-line summary, e.g. "SyntaxError: invalid syntax (line 12)".
    message: str
    #: The line the error points at, 0 when unknown.
    line_number: int
    stacktrace: str
    timestamp: datetime | None
    processor_id: str

    @classmethod
    def from_proto(cls, message: dag_pb2.ImportError) -> DagImportError:
        """Convert an ``ImportError``."""
        return cls(
            filename=message.filename,
            relative_filename=message.relative_filename,
            message=message.message,
            line_number=message.line_number,
            stacktrace=message.stacktrace,
            timestamp=_when(message, "timestamp"),
            processor_id=message.processor_id,
        )


@dataclass(frozen=True, kw_only=True)
class DagFile:
    """A DAG file as the DAG processors last saw it."""

    relative_fileloc: str
    fileloc: str
    dag_ids: tuple[str, ...]
    last_parsed_at: datetime | None
    last_parse_duration: timedelta | None
    last_parsed_by: str
    #: The processor holding its lease now, empty when none.
    lease_owner: str
    has_import_error: bool

    @classmethod
    def from_proto(cls, message: dag_pb2.DagFile) -> DagFile:
        """Convert a ``DagFile``."""
        return cls(
            relative_fileloc=message.relative_fileloc,
            fileloc=message.fileloc,
            dag_ids=tuple(message.dag_ids),
            last_parsed_at=_when(message, "last_parsed_at"),
            last_parse_duration=_span(message, "last_parse_duration"),
            last_parsed_by=message.last_parsed_by,
            lease_owner=message.lease_owner,
            has_import_error=message.has_import_error,
        )


@dataclass(frozen=True, kw_only=True)
class TaskLogs:
    """One read of a try's log."""

    lines: tuple[LogLine, ...]
    #: The try the lines belong to; 0 when the task instance has not run yet.
    try_number: int
    #: Whether the try has ended and every line of it has been returned.
    complete: bool


def _map_index(key: run_pb2.TaskInstanceKey) -> int:
    return key.map_index if key.HasField("map_index") else -1


@dataclass(frozen=True, kw_only=True)
class Asset:
    """An asset: data tasks produce and DAGs are scheduled on."""

    name: str
    uri: str
    group: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, message: dag_pb2.Asset) -> Asset:
        """Convert an ``Asset``."""
        return cls(
            name=message.name,
            uri=message.uri,
            group=message.group,
            extra=_json(message.extra_json) or {},
        )


@dataclass(frozen=True, kw_only=True)
class AssetEvent:
    """One update of an asset, recorded by a producing task or from outside."""

    id: int
    asset: Asset
    extra: dict[str, Any]
    #: The producing task instance; empty for an event recorded from outside.
    source_dag_id: str
    source_task_id: str
    source_run_id: str
    source_map_index: int
    #: The aliases the producing task attached the asset to.
    source_aliases: list[str]
    timestamp: datetime | None
    #: "task", "api" or "watcher".
    origin: str
    #: The partition it updated; "" for none.
    partition_key: str = ""

    @classmethod
    def from_proto(cls, message: asset_pb2.AssetEvent) -> AssetEvent:
        """Convert an ``AssetEvent``."""
        return cls(
            id=message.id,
            asset=Asset.from_proto(message.asset),
            extra=_json(message.extra_json) or {},
            source_dag_id=message.source_dag_id,
            source_task_id=message.source_task_id,
            source_run_id=message.source_run_id,
            source_map_index=message.source_map_index,
            source_aliases=list(message.source_aliases),
            timestamp=_when(message, "timestamp"),
            origin=message.origin,
            partition_key=message.partition_key,
        )


@dataclass(frozen=True, kw_only=True)
class AssetTaskReference:
    """A task that produces or reads an asset."""

    dag_id: str
    task_id: str


@dataclass(frozen=True, kw_only=True)
class AssetDetails:
    """An asset with its producers, consumers, aliases and latest event."""

    asset: Asset
    created_at: datetime | None
    producing_tasks: list[AssetTaskReference]
    scheduled_dag_ids: list[str]
    consuming_tasks: list[AssetTaskReference]
    aliases: list[str]
    last_event: AssetEvent | None
    event_count: int

    @classmethod
    def from_proto(cls, message: asset_pb2.AssetDetails) -> AssetDetails:
        """Convert an ``AssetDetails``."""
        return cls(
            asset=Asset.from_proto(message.asset),
            created_at=_when(message, "created_at"),
            producing_tasks=[
                AssetTaskReference(dag_id=t.dag_id, task_id=t.task_id)
                for t in message.producing_tasks
            ],
            scheduled_dag_ids=list(message.scheduled_dag_ids),
            consuming_tasks=[
                AssetTaskReference(dag_id=t.dag_id, task_id=t.task_id)
                for t in message.consuming_tasks
            ],
            aliases=list(message.aliases),
            last_event=(
                AssetEvent.from_proto(message.last_event)
                if message.HasField("last_event")
                else None
            ),
            event_count=message.event_count,
        )


@dataclass(frozen=True, kw_only=True)
class QueuedAssetEvent:
    """An asset with an event waiting for a DAG scheduled on it."""

    dag_id: str
    asset: Asset
    created_at: datetime | None
    asset_aliases: list[str]

    @classmethod
    def from_proto(cls, message: asset_pb2.QueuedAssetEvent) -> QueuedAssetEvent:
        """Convert a ``QueuedAssetEvent``."""
        return cls(
            dag_id=message.dag_id,
            asset=Asset.from_proto(message.asset),
            created_at=_when(message, "created_at"),
            asset_aliases=list(message.asset_aliases),
        )


@dataclass(frozen=True, kw_only=True)
class ReceivedPartitionKey:
    """An event a pending partition received: its asset and the producer's key."""

    asset_event_id: int
    asset: Asset
    source_partition_key: str
    created_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class PendingPartition:
    """A partition of a partitioned consumer that received events and waits for its run."""

    dag_id: str
    partition_key: str
    created_at: datetime | None
    #: The producers' partition date, when the events that carried one agreed.
    carried_partition_date: datetime | None
    received: list[ReceivedPartitionKey]

    @classmethod
    def from_proto(cls, message: asset_pb2.PendingPartition) -> PendingPartition:
        """Convert a ``PendingPartition``."""
        return cls(
            dag_id=message.dag_id,
            partition_key=message.partition_key,
            created_at=_when(message, "created_at"),
            carried_partition_date=_when(message, "carried_partition_date"),
            received=[
                ReceivedPartitionKey(
                    asset_event_id=r.asset_event_id,
                    asset=Asset.from_proto(r.asset),
                    source_partition_key=r.source_partition_key,
                    created_at=_when(r, "created_at"),
                )
                for r in message.received
            ],
        )


@dataclass(frozen=True, kw_only=True)
class EmittedAssetEvent:
    """An event recorded from outside, and the DAGs it queued."""

    event: AssetEvent
    queued_dag_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class AssetStateEntry:
    """One key of an asset's state store (``asset_state_store``) and who wrote it last."""

    key: str
    #: The JSON value.
    value: Any
    updated_at: datetime | None
    #: "task" (the task instance below wrote it) or "api".
    writer_kind: str
    writer_dag_id: str
    writer_run_id: str
    writer_task_id: str
    #: -1 for a task that is not mapped (and for the API).
    writer_map_index: int

    @classmethod
    def from_proto(cls, message: asset_pb2.AssetStateEntry) -> AssetStateEntry:
        """Convert an ``AssetStateEntry``."""
        return cls(
            key=message.key,
            value=_json(message.value_json),
            updated_at=_when(message, "updated_at"),
            writer_kind=message.writer_kind,
            writer_dag_id=message.writer_dag_id,
            writer_run_id=message.writer_run_id,
            writer_task_id=message.writer_task_id,
            writer_map_index=message.writer_map_index,
        )


def schedule_text(schedule: dag_pb2.Schedule) -> str | None:
    """A DAG's schedule as written ("@daily", "Asset", ...), or None for manual runs only."""
    kind = schedule.WhichOneof("kind")
    if kind is None and not schedule.HasField("assets"):
        return None
    if schedule.description:
        return schedule.description
    if kind is None:
        return "Partitioned Asset" if schedule.HasField("partitioning") else "Asset"
    if kind == "cron_partition":
        return f"{schedule.cron_partition.expression} (partitioned)"
    if kind == "partitioned_at_runtime":
        return "Never, partition key(s) set at runtime"
    if kind == "cron":
        return schedule.cron
    if kind == "cron_trigger":
        return ", ".join(schedule.cron_trigger.expressions)
    if kind == "interval":
        return f"every {schedule.interval.ToTimedelta()}"
    if kind == "delta_trigger":
        return f"every {schedule.delta_trigger.delta.ToTimedelta()}"
    if kind == "events":
        return f"{len(schedule.events.event_dates)} events"
    if kind == "custom":
        return schedule.custom.class_path.rpartition(".")[2]
    return f"@{kind}"  # once, continuous
