"""The schema of Tradewind's database, as SQLAlchemy 2 declarative models.

States and types are stored as their lower-case names ("queued", "manual"); timestamps are
timezone-aware UTC; JSON documents (conf, params) are stored as text exactly as received.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH = 250
STATE_LENGTH = 20
HASH_LENGTH = 64

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and store everything in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes, also from SQLite, which keeps no zone."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    """Base of every model; constraint names are deterministic for migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Dag(Base):
    """A DAG's latest structure pointer and its operational state."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    fileloc: Mapped[str] = mapped_column(Text, default="")
    relative_fileloc: Mapped[str] = mapped_column(String(1000), default="", index=True)
    owners_json: Mapped[str] = mapped_column(Text, default="[]")
    tags_json: Mapped[str] = mapped_column(Text, default="[]")
    #: Content hash of the current version (a row of dag_version).
    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    has_schedule: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Scheduled on assets (alone or with a time schedule).
    has_asset_schedule: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: For a partitioned consumer, a hash of how it maps partition keys ("" otherwise): its
    #: pending partitions are dropped when it changes, as they were gathered under other rules.
    partitioning_hash: Mapped[str] = mapped_column(
        String(HASH_LENGTH), default="", server_default=""
    )
    #: The team that owns it ("" for none), from its DAG processor's --team.
    team: Mapped[str] = mapped_column(String(ID_LENGTH), default="", server_default="")
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    task_count: Mapped[int] = mapped_column(Integer, default=0)
    next_dagrun_logical_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun_data_interval_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun_data_interval_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun_create_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: True once the schedule has nothing more to create (end_date passed, @once done).
    schedule_exhausted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_parsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DagVersion(Base):
    """One serialised structure of a DAG, by content hash; runs point at the one they ran."""

    __tablename__ = "dag_version"

    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    #: The serialised tradewind.dag.v1.DagDefinition.
    definition: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DagFile(Base):
    """A DAG file the processors know: who owns it now and how its last parse went."""

    __tablename__ = "dag_file"

    relative_fileloc: Mapped[str] = mapped_column(String(1000), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text, default="")
    dag_ids_json: Mapped[str] = mapped_column(Text, default="[]")
    last_parsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_parse_seconds: Mapped[float | None] = mapped_column(Float)
    last_parsed_by: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    lease_owner: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportError(Base):
    """A DAG file that failed to import at its last parse."""

    __tablename__ = "import_error"

    relative_fileloc: Mapped[str] = mapped_column(String(1000), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    line_number: Mapped[int] = mapped_column(Integer, default=0)
    stacktrace: Mapped[str] = mapped_column(Text, default="")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    processor_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")


class DagWarning(Base):
    """A problem of a DAG that is not an import error (Airflow's DAG warnings)."""

    __tablename__ = "dag_warning"

    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    warning_type: Mapped[str] = mapped_column(String(50), primary_key=True)
    message: Mapped[str] = mapped_column(Text, default="")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)


class DagRun(Base):
    """One run of a DAG."""

    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        Index("ix_dag_run_dag_id_state", "dag_id", "state"),
        Index("ix_dag_run_state_claim_expires_at", "state", "claim_expires_at"),
        Index("ix_dag_run_dag_id_logical_date", "dag_id", "logical_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_type: Mapped[str] = mapped_column(String(STATE_LENGTH))
    state: Mapped[str] = mapped_column(String(STATE_LENGTH))
    logical_date: Mapped[datetime] = mapped_column(UTCDateTime)
    data_interval_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data_interval_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conf_json: Mapped[str] = mapped_column(Text, default="{}")
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dag_content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    claimed_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    #: Bumped by clear, mark and re-queue, so stale scheduler decisions are refused.
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The client-made id of the trigger that created it, for idempotent retries.
    request_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    partition_key: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    partition_date: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskInstance(Base):
    """A task inside one DAG run, with its current try."""

    __tablename__ = "task_instance"
    __table_args__ = (
        UniqueConstraint("dag_run_id", "task_id", "map_index"),
        Index("ix_task_instance_state_queue_priority", "state", "queue", "priority_weight"),
        Index("ix_task_instance_dag_id_state", "dag_id", "state"),
        Index("ix_task_instance_pool_state", "pool", "state"),
        Index(
            "ix_task_instance_dag_id_run_id_task_id_map_index",
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_run_id: Mapped[int] = mapped_column(ForeignKey("dag_run.id", ondelete="CASCADE"))
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    #: The instance of a mapped task, from 0; -1 for a task that is not mapped (or a mapped
    #: task not expanded yet), as in Airflow.
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    state: Mapped[str] = mapped_column(String(STATE_LENGTH))
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=1)
    pool: Mapped[str] = mapped_column(String(ID_LENGTH), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(ID_LENGTH), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    operator: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    lease_id: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set by a person's clear or mark of a running try: tells its executor to stop it.
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    hostname: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    pid: Mapped[int | None] = mapped_column(Integer)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_type: Mapped[str] = mapped_column(Text, default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    error_traceback: Mapped[str] = mapped_column(Text, default="")
    #: For a task whose return value a mapped task maps over: how many items it returned.
    output_length: Mapped[int | None] = mapped_column(Integer)
    #: The instance's name from its task's map_index_template.
    rendered_map_index: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: The current try goes on in its next process (it deferred, or a sensor rescheduled).
    continues_try: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Where a deferred try resumes: the method, and its kwargs (JSON, with the event).
    next_method: Mapped[str] = mapped_column(String(ID_LENGTH), default="", server_default="")
    next_kwargs_json: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: When a deferred instance's trigger times out.
    trigger_timeout: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A reschedule-mode sensor's first poke since the instance was last cleared, and the
    #: number of reschedules since then (its timeout counts from that first poke).
    first_reschedule_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskInstanceTry(Base):
    """The record of one try of a task instance, kept after later tries."""

    __tablename__ = "task_instance_try"
    __table_args__ = (UniqueConstraint("task_instance_id", "try_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_instance_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE"), index=True
    )
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(STATE_LENGTH))
    outcome: Mapped[str] = mapped_column(String(STATE_LENGTH), default="")
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    process_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    executor_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    lease_id: Mapped[str] = mapped_column(String(64), index=True)
    hostname: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    pid: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str] = mapped_column(Text, default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    error_traceback: Mapped[str] = mapped_column(Text, default="")
    #: The last log chunk stored, and the number of lines stored (the next line's sequence - 1).
    log_chunk_index: Mapped[int] = mapped_column(BigInteger, default=0)
    log_line_count: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The chunk index the executor said was its last; 0 until the try has ended.
    final_log_chunk_index: Mapped[int | None] = mapped_column(BigInteger)


class Trigger(Base):
    """The trigger a deferred task instance waits on, leased by a triggerer replica."""

    __tablename__ = "trigger"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    task_instance_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE"), unique=True
    )
    #: The try that deferred (an event for an older deferral is ignored).
    try_number: Mapped[int] = mapped_column(Integer)
    classpath: Mapped[str] = mapped_column(Text)
    kwargs_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class TaskLog(Base):
    """One captured log line of a try."""

    __tablename__ = "task_log"
    __table_args__ = (UniqueConstraint("task_instance_id", "try_number", "sequence"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    task_instance_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE")
    )
    try_number: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    stream: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(STATE_LENGTH), default="")
    message: Mapped[str] = mapped_column(Text)


class XCom(Base):
    """A value a task pushed for other tasks of its run."""

    __tablename__ = "xcom"

    task_instance_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    value_json: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskState(Base):
    """One key of a task instance's task state store, kept across its tries."""

    __tablename__ = "task_state"

    task_instance_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: None: the key never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Variable(Base):
    """A named value tasks read at run time."""

    __tablename__ = "variable"

    key: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    #: Encrypted with the state service's key when ``is_encrypted`` (every value it writes).
    value: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    #: False only for a value written before variables were encrypted (until it is).
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=false())


class Connection(Base):
    """How to reach an external system; password and extras are encrypted at rest."""

    __tablename__ = "connection"

    conn_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    conn_type: Mapped[str] = mapped_column(String(ID_LENGTH))
    host: Mapped[str] = mapped_column(Text, default="")
    schema: Mapped[str] = mapped_column(Text, default="")
    login: Mapped[str] = mapped_column(Text, default="")
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    port: Mapped[int | None] = mapped_column(Integer)
    extra_encrypted: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")


class Pool(Base):
    """A limit on the slots that running task instances take at once."""

    __tablename__ = "slot_pool"

    name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    include_deferred: Mapped[bool] = mapped_column(Boolean, default=False)


class ServiceInstance(Base):
    """A live replica of a service, known from its last lease or claim call (for fair shares)."""

    __tablename__ = "service_instance"

    instance_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(STATE_LENGTH), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """One committed change; its id is the change feed's cursor."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    type: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    task_instance_state: Mapped[int] = mapped_column(Integer, default=0)
    previous_task_instance_state: Mapped[int] = mapped_column(Integer, default=0)
    dag_run_state: Mapped[int] = mapped_column(Integer, default=0)
    previous_dag_run_state: Mapped[int] = mapped_column(Integer, default=0)
    queue: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    pool: Mapped[str] = mapped_column(String(ID_LENGTH), default="")


ASSET_KEY_LENGTH = 1500


class Asset(Base):
    """An asset some DAG names (schedule, outlet, inlet) or a task attached to an alias."""

    __tablename__ = "asset"
    __table_args__ = (UniqueConstraint("name", "uri"), Index("ix_asset_uri", "uri"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH))
    uri: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH))
    group: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH), default="asset")
    extra_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssetAlias(Base):
    """An asset alias: it names the assets tasks attach to it at run time."""

    __tablename__ = "asset_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH), unique=True)
    group: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH), default="asset")


class AssetAliasAsset(Base):
    """An asset a task attached to an alias."""

    __tablename__ = "asset_alias_asset"

    alias_id: Mapped[int] = mapped_column(
        ForeignKey("asset_alias.id", ondelete="CASCADE"), primary_key=True
    )
    asset_id: Mapped[int] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AssetEvent(Base):
    """One update of an asset, immutable once recorded."""

    __tablename__ = "asset_event"
    __table_args__ = (Index("ix_asset_event_asset_id_timestamp", "asset_id", "timestamp"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    extra_json: Mapped[str] = mapped_column(Text, default="{}")
    source_dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="", index=True)
    source_task_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    source_run_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    source_map_index: Mapped[int] = mapped_column(Integer, default=-1)
    #: The alias names the producing task attached the asset to, a JSON list.
    source_aliases_json: Mapped[str] = mapped_column(Text, default="[]")
    #: "task", "api" or "watcher".
    origin: Mapped[str] = mapped_column(String(STATE_LENGTH), default="task")
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: Set by whoever recorded the event to make its report idempotent (a watcher's event
    #: id); None for the others.
    request_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True)
    #: The partition it updated.
    partition_key: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: The producing run's partition date, when the event is for the run's partition: a
    #: consumer mapping keys as they are (IdentityMapper) carries it to its own run.
    partition_date: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AssetAliasEvent(Base):
    """An event recorded through an alias (its asset attached to the alias by the task)."""

    __tablename__ = "asset_alias_event"

    alias_id: Mapped[int] = mapped_column(
        ForeignKey("asset_alias.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AssetDagRunQueue(Base):
    """An asset event waiting for a DAG scheduled on its asset (first since its last run)."""

    __tablename__ = "asset_dag_run_queue"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True
    )
    target_dag_id: Mapped[str] = mapped_column(
        ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssetDagRunQueueEvent(Base):
    """One event a queued DAG will consume with its next asset-triggered run."""

    __tablename__ = "asset_dag_run_queue_event"

    target_dag_id: Mapped[str] = mapped_column(
        ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    asset_event_id: Mapped[int] = mapped_column(
        ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))


class AssetPartition(Base):
    """A partition of a partitioned consumer that received events and waits for its run.

    Airflow's AssetPartitionDagRun; deleted when its run is created (the run keeps the key
    and its consumed events).
    """

    __tablename__ = "asset_partition"
    __table_args__ = (UniqueConstraint("target_dag_id", "partition_key"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    target_dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"))
    partition_key: Mapped[str] = mapped_column(String(ID_LENGTH))
    #: The producers' partition date, None until one carries it or when two disagree.
    carried_partition_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssetPartitionEvent(Base):
    """An event a pending partition received (Airflow's PartitionedAssetKeyLog)."""

    __tablename__ = "asset_partition_event"

    partition_id: Mapped[int] = mapped_column(
        ForeignKey("asset_partition.id", ondelete="CASCADE"), primary_key=True
    )
    asset_event_id: Mapped[int] = mapped_column(
        ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    source_partition_key: Mapped[str] = mapped_column(String(ID_LENGTH))


class DagRunAssetEvent(Base):
    """An asset event an asset-triggered run consumed (its triggering_asset_events)."""

    __tablename__ = "dag_run_asset_event"

    dag_run_id: Mapped[int] = mapped_column(
        ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    asset_event_id: Mapped[int] = mapped_column(
        ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DagAssetReference(Base):
    """An asset, reference or alias a DAG's current version names, and in which role."""

    __tablename__ = "dag_asset_reference"
    __table_args__ = (
        Index("ix_dag_asset_reference_role_asset_name", "role", "asset_name"),
        Index("ix_dag_asset_reference_role_asset_uri", "role", "asset_uri"),
        Index("ix_dag_asset_reference_role_alias_name", "role", "alias_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"), index=True)
    #: "schedule", "outlet" or "inlet".
    role: Mapped[str] = mapped_column(String(STATE_LENGTH))
    #: The task, for outlets and inlets; "" for the schedule.
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    #: An asset has both; a reference one of them; an alias neither.
    asset_name: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH), default="")
    asset_uri: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH), default="")
    alias_name: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH), default="")
    #: The asset's AssetAccessControl where this reference uses it (a JSON object), "" for
    #: Airflow's defaults.
    access_json: Mapped[str] = mapped_column(Text, default="", server_default="")


class DagAssetWatcher(Base):
    """A watcher on an asset a DAG is scheduled on, as the DAG's current version declares it."""

    __tablename__ = "dag_asset_watcher"
    __table_args__ = (UniqueConstraint("dag_id", "asset_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(ASSET_KEY_LENGTH))
    classpath: Mapped[str] = mapped_column(Text)
    kwargs_json: Mapped[str] = mapped_column(Text)
    #: Of the class path and kwargs: watchers with the same trigger share one run of it.
    trigger_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), index=True)


class WatcherTrigger(Base):
    """One asset watcher trigger to run, leased by a triggerer replica.

    The watchers with its hash share it.
    """

    __tablename__ = "watcher_trigger"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    trigger_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    classpath: Mapped[str] = mapped_column(Text)
    kwargs_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class AssetState(Base):
    """One key of an asset's state store (asset_state_store), kept across runs."""

    __tablename__ = "asset_state"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: "task" or "api".
    writer_kind: Mapped[str] = mapped_column(String(STATE_LENGTH))
    writer_dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    writer_run_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    writer_task_id: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    writer_map_index: Mapped[int] = mapped_column(Integer, default=-1)
