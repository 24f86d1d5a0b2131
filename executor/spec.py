"""What a task process is told about the try it runs (JSON between executor and child)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class TrySpec:
    """Everything a task process needs: where the DAG is, which try, how to reach TaskService.

    It holds no database address, token or service credential: the task reaches XCom,
    variables and connections only through the state service's TaskService, with its lease as
    credential (and, under mutual TLS, the certificate the executor gives tasks).
    """

    dags_folder: str
    relative_fileloc: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    max_tries: int
    lease_id: str
    run_type: str
    logical_date: str
    data_interval_start: str
    data_interval_end: str
    conf_json: str
    state_targets: list[str]
    state_tls_ca: str = ""
    state_tls_cert: str = ""
    state_tls_key: str = ""
    #: The instance of a mapped task; -1 for a task that is not mapped.
    map_index: int = -1
    #: A try resuming after a deferral: the method to call and its kwargs (JSON, event in it).
    next_method: str = ""
    next_kwargs_json: str = ""
    #: A reschedule-mode sensor's first poke (ISO 8601) and its number of reschedules.
    first_reschedule_date: str = ""
    task_reschedule_count: int = 0
    #: The run's partition key ("" for none) and date (ISO 8601, "" for none).
    partition_key: str = ""
    partition_date: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The spec as JSON bytes."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TrySpec:
        """Read a spec made by :meth:`to_json`."""
        return cls(**json.loads(data))


@dataclass(frozen=True, kw_only=True)
class TryResult:
    """What a task process reports back about its try."""

    outcome: str
    process_started_at: str = ""
    error_type: str = ""
    error_message: str = ""
    error_traceback: str = ""
    skip_task_ids: list[str] = field(default_factory=list)
    xcoms: list[tuple[str, str]] = field(default_factory=list)
    #: The instance's name from its task's map_index_template.
    rendered_map_index: str = ""
    #: For a deferred try: trigger_classpath, trigger_kwargs_json, next_method,
    #: next_kwargs_json and timeout_seconds (None: no timeout).
    deferral: dict[str, Any] | None = None
    #: For a rescheduled try: when the sensor pokes next (ISO 8601).
    reschedule_date: str = ""
    #: For a successful try: its outlet events, each with asset (name, uri, group,
    #: extra_json), extra_json, source_alias_name and partition_keys.
    outlet_events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> bytes:
        """The result as JSON bytes."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TryResult:
        """Read a result made by :meth:`to_json`."""
        raw = json.loads(data)
        raw["xcoms"] = [tuple(pair) for pair in raw.get("xcoms", [])]
        return cls(**raw)
