"""DAG files: processor leases, parse results, and retiring files that are gone."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.state.db.event_log import record_event
from services.state.db.models import Dag, DagFile, DagVersion, ImportError
from services.state.store.assets import sync_dag_assets
from services.state.store.instances import forget_instance, live_instances, touch_instance
from services.state.store.scheduling import point_next_run
from services.state.store.warnings import refresh_pool_warnings
from services.state.store.watchers import sync_dag_watchers

PROCESSOR_KIND = "dag_processor"


@dataclass
class LeaseGrant:
    """The files a processor owns after an acquire call."""

    leases: list[tuple[str, datetime]] = field(default_factory=list)
    live_processors: int = 1


def acquire_file_leases(
    session: Session, processor_id: str, files: Sequence[str], duration: timedelta, now: datetime
) -> LeaseGrant:
    """Renew the caller's leases and grant it free files, up to a fair share of all files."""
    touch_instance(session, processor_id, PROCESSOR_KIND, now, duration)
    live = max(1, live_instances(session, PROCESSOR_KIND, now))
    wanted = sorted(set(files))
    known = set(
        session.scalars(
            select(DagFile.relative_fileloc).where(DagFile.relative_fileloc.in_(wanted))
        )
    )
    for path in wanted:
        if path not in known:
            session.add(DagFile(relative_fileloc=path))
    session.flush()
    share = math.ceil(len(wanted) / live) if wanted else 0

    held = list(
        session.scalars(
            select(DagFile)
            .where(DagFile.lease_owner == processor_id, DagFile.lease_expires_at > now)
            .order_by(DagFile.relative_fileloc)
            .with_for_update()
        )
    )
    wanted_set = set(wanted)
    keep = [row for row in held if row.relative_fileloc in wanted_set][:share]
    for row in held:
        if row not in keep:
            row.lease_owner = None
            row.lease_expires_at = None
    free = (
        list(
            session.scalars(
                select(DagFile)
                .where(
                    DagFile.relative_fileloc.in_(wanted),
                    or_(DagFile.lease_owner.is_(None), DagFile.lease_expires_at <= now),
                )
                .order_by(DagFile.relative_fileloc)
                .limit(share - len(keep))
                .with_for_update(skip_locked=True)
            )
        )
        if share > len(keep)
        else []
    )
    expires = now + duration
    for row in [*keep, *free]:
        row.lease_owner = processor_id
        row.lease_expires_at = expires
    return LeaseGrant(
        leases=sorted((row.relative_fileloc, expires) for row in [*keep, *free]),
        live_processors=live,
    )


def release_file_leases(session: Session, processor_id: str, files: Sequence[str]) -> int:
    """Give back the caller's leases; return how many.

    With no files, all of them: the processor is stopping, so it no longer counts in the other
    processors' fair shares.
    """
    query = select(DagFile).where(DagFile.lease_owner == processor_id)
    if files:
        query = query.where(DagFile.relative_fileloc.in_(files))
    else:
        forget_instance(session, processor_id)
    rows = list(session.scalars(query.with_for_update()))
    for row in rows:
        row.lease_owner = None
        row.lease_expires_at = None
    if rows:
        record_event(session, type=event_pb2.EVENT_TYPE_DAG_FILE_LEASES_RELEASED)
    return len(rows)


def _holds_lease(row: DagFile | None, processor_id: str, now: datetime) -> bool:
    return (
        row is not None
        and row.lease_owner == processor_id
        and row.lease_expires_at is not None
        and row.lease_expires_at > now
    )


def store_dag(session: Session, serialized: dag_pb2.SerializedDag, now: datetime) -> bool:
    """Store one DAG version and point its DAG at it; return whether its structure changed."""
    definition = serialized.definition
    if session.get(DagVersion, serialized.content_hash) is None:
        session.add(
            DagVersion(
                content_hash=serialized.content_hash,
                dag_id=definition.dag_id,
                definition=definition.SerializeToString(deterministic=True),
                created_at=now,
            )
        )
    row = session.get(Dag, definition.dag_id)
    changed = row is None or row.content_hash != serialized.content_hash
    if row is None:
        row = Dag(dag_id=definition.dag_id, is_paused=definition.is_paused_upon_creation)
        session.add(row)
    elif changed and _schedule_changed(session, row.content_hash, definition):
        # The next-run pointers were computed from the old schedule: let the scheduler redo them.
        point_next_run(row, None)
        row.schedule_exhausted = False
    row.is_active = True
    row.content_hash = serialized.content_hash
    row.description = definition.description
    row.fileloc = definition.fileloc
    row.relative_fileloc = definition.relative_fileloc
    row.owners_json = json.dumps(list(definition.owners))
    row.tags_json = json.dumps(list(definition.tags))
    row.has_schedule = definition.schedule.WhichOneof("kind") is not None
    row.team = definition.team
    row.max_active_runs = definition.max_active_runs
    row.max_active_tasks = definition.max_active_tasks
    row.task_count = len(definition.tasks)
    row.last_parsed_at = now
    row.updated_at = now
    if changed:
        session.flush()
        sync_dag_assets(session, row, definition, now)
        sync_dag_watchers(session, row, definition, now)
        refresh_pool_warnings(session, now, [row.dag_id])
    return changed


def _schedule_changed(session: Session, old_hash: str, new: dag_pb2.DagDefinition) -> bool:
    old_row = session.get(DagVersion, old_hash)
    if old_row is None:
        return True
    old = dag_pb2.DagDefinition.FromString(old_row.definition)
    return (
        old.schedule != new.schedule
        or old.start_date != new.start_date
        or old.end_date != new.end_date
        or old.catchup != new.catchup
    )


@dataclass(frozen=True, kw_only=True)
class ImportFailure:
    """Why a DAG file failed to import."""

    message: str
    filename: str = ""
    line_number: int = 0
    stacktrace: str = ""
    timestamp: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ParseResult:
    """What a DAG processor found in one file."""

    relative_fileloc: str
    fileloc: str = ""
    parsed_at: datetime | None = None
    parse_seconds: float | None = None
    #: The DAGs whose serialised structure is sent (new or changed).
    dags: Sequence[dag_pb2.SerializedDag] = ()
    #: The DAGs the file still defines, unchanged since the state service stored them.
    unchanged_dag_ids: Sequence[str] = ()
    import_error: ImportFailure | None = None


@dataclass
class ParseOutcome:
    """What the state service did with a parse result."""

    relative_fileloc: str
    #: False when the caller no longer holds the file's lease: nothing was applied.
    accepted: bool = False
    updated_dag_ids: list[str] = field(default_factory=list)
    #: DAG ids another file defines already.
    conflicting_dag_ids: list[str] = field(default_factory=list)
    #: Said to be unchanged but unknown here: send their structure.
    resend_dag_ids: list[str] = field(default_factory=list)
    deactivated_dag_ids: list[str] = field(default_factory=list)


def _record_import_error(
    session: Session,
    result: ParseResult,
    processor_id: str,
    now: datetime,
    message: str = "",
) -> None:
    error = result.import_error or ImportFailure(message=message)
    row = session.get(ImportError, result.relative_fileloc)
    if row is None:
        row = ImportError(relative_fileloc=result.relative_fileloc)
        session.add(row)
    row.fileloc = result.fileloc or error.filename
    row.message = message or error.message
    row.line_number = 0 if message else error.line_number
    row.stacktrace = "" if message else error.stacktrace
    row.timestamp = error.timestamp or now
    row.processor_id = processor_id


def report_parse_result(
    session: Session, processor_id: str, result: ParseResult, now: datetime
) -> ParseOutcome:
    """Apply one file's parse result, if the caller still holds the file's lease."""
    path = result.relative_fileloc
    outcome = ParseOutcome(relative_fileloc=path)
    file_row = session.get(DagFile, path, with_for_update=True)
    if not _holds_lease(file_row, processor_id, now):
        return outcome
    assert file_row is not None
    outcome.accepted = True
    file_row.fileloc = result.fileloc
    file_row.last_parsed_at = result.parsed_at or now
    file_row.last_parse_seconds = result.parse_seconds
    file_row.last_parsed_by = processor_id

    failed = result.import_error is not None
    defined = [d.definition.dag_id for d in result.dags] + list(result.unchanged_dag_ids)
    owners = {
        row.dag_id: row
        for row in session.scalars(select(Dag).where(Dag.dag_id.in_(defined)).with_for_update())
    }
    for serialized in result.dags:
        dag_id = serialized.definition.dag_id
        existing = owners.get(dag_id)
        if existing is not None and existing.is_active and existing.relative_fileloc != path:
            outcome.conflicting_dag_ids.append(dag_id)
            continue
        if store_dag(session, serialized, now):
            outcome.updated_dag_ids.append(dag_id)
            record_event(session, type=event_pb2.EVENT_TYPE_DAG_UPDATED, dag_id=dag_id)
    reactivated = []
    for dag_id in result.unchanged_dag_ids:
        row = owners.get(dag_id)
        if row is None or row.relative_fileloc != path:
            outcome.resend_dag_ids.append(dag_id)
            continue
        if not row.is_active:
            reactivated.append(dag_id)
            record_event(session, type=event_pb2.EVENT_TYPE_DAG_UPDATED, dag_id=dag_id)
        row.is_active = True
        row.last_parsed_at = now
    refresh_pool_warnings(session, now, reactivated)
    if failed:
        # The DAGs the file still defines are stored; the others keep their last good
        # version until the file imports cleanly again.
        _record_import_error(session, result, processor_id, now)
        return outcome

    kept = set(defined) - set(outcome.conflicting_dag_ids) - set(outcome.resend_dag_ids)
    for row in session.scalars(
        select(Dag).where(
            Dag.relative_fileloc == path, Dag.is_active.is_(True), Dag.dag_id.not_in(kept)
        )
    ):
        row.is_active = False
        row.updated_at = now
        outcome.deactivated_dag_ids.append(row.dag_id)
        record_event(session, type=event_pb2.EVENT_TYPE_DAG_DEACTIVATED, dag_id=row.dag_id)

    file_row.dag_ids_json = json.dumps(sorted(kept))
    if outcome.conflicting_dag_ids:
        others = {owners[d].relative_fileloc for d in outcome.conflicting_dag_ids}
        _record_import_error(
            session,
            result,
            processor_id,
            now,
            message=(
                f"DAG id(s) {', '.join(sorted(outcome.conflicting_dag_ids))} already defined in"
                f" {', '.join(sorted(others))}; rename them or remove them from one of the files"
            ),
        )
    else:
        session.execute(delete(ImportError).where(ImportError.relative_fileloc == path))
    return outcome


def dag_content_hashes(session: Session, files: Sequence[str]) -> dict[str, dict[str, str]]:
    """The DAG ids and content hashes stored for each file (every file when ``files`` is empty)."""
    query = select(Dag.relative_fileloc, Dag.dag_id, Dag.content_hash).where(
        Dag.is_active.is_(True)
    )
    if files:
        query = query.where(Dag.relative_fileloc.in_(files))
    by_file: dict[str, dict[str, str]] = {}
    for path, dag_id, content_hash in session.execute(
        query.order_by(Dag.relative_fileloc, Dag.dag_id)
    ):
        by_file.setdefault(path, {})[dag_id] = content_hash
    return by_file


def reconcile_dag_files(
    session: Session, present: Sequence[str], now: datetime
) -> tuple[list[str], list[str]]:
    """Retire the DAGs, import errors and file records of files that no longer exist."""
    present_set = set(present)
    deactivated = []
    for row in session.scalars(select(Dag).where(Dag.is_active.is_(True)).with_for_update()):
        if row.relative_fileloc not in present_set:
            row.is_active = False
            row.updated_at = now
            deactivated.append(row.dag_id)
            record_event(session, type=event_pb2.EVENT_TYPE_DAG_DEACTIVATED, dag_id=row.dag_id)
    cleared = [
        path
        for path in session.scalars(select(ImportError.relative_fileloc))
        if path not in present_set
    ]
    if cleared:
        session.execute(delete(ImportError).where(ImportError.relative_fileloc.in_(cleared)))
    gone = [
        path
        for path in session.scalars(select(DagFile.relative_fileloc))
        if path not in present_set
    ]
    if gone:
        session.execute(delete(DagFile).where(DagFile.relative_fileloc.in_(gone)))
    return sorted(deactivated), sorted(cleared)
