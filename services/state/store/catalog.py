"""DAGs, DAG files and import errors as the public API shows them, and keyset pages.

Listings page with :mod:`services.state.paging`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Integer, delete, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.state.db.event_log import record_event
from services.state.db.models import Base, Dag, DagFile, DagRun, DagVersion, ImportError
from services.state.store.pages import Page, PageRequest, keyset_page

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=Base)


def icontains(column: InstrumentedAttribute[str], text: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, ignoring case, with ``%`` and ``_`` taken literally."""
    return column.icontains(text, autoescape=True)


class _Position(FunctionElement[int]):
    """The 1-based position of a substring in a text, 0 when absent; case-sensitive everywhere.

    LIKE ignores case on SQLite but not on PostgreSQL, so exact matches inside a text use
    ``instr`` / ``strpos`` instead.
    """

    type = Integer()
    inherit_cache = True


@compiles(_Position, "sqlite")
def _position_sqlite(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _position_postgresql(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def _has_tag(tag: str) -> ColumnElement[bool]:
    # dag.tags_json is json.dumps(list_of_tags): every element is preceded by "[" or ", ", and a
    # quote inside an element is always escaped, so '"tag"' after one of those is exactly the
    # element, never part of a longer tag.
    element = json.dumps(tag)
    return or_(
        _Position(Dag.tags_json, "[" + element) == 1,
        _Position(Dag.tags_json, ", " + element) > 0,
    )


# ---- DAGs ----


@dataclass(frozen=True)
class DagFilter:
    """The filters of ListDags."""

    #: Only DAGs whose id contains this, ignoring case; "" for all.
    dag_id_contains: str = ""
    #: Only DAGs carrying every one of these tags (sorted, without duplicates).
    tags: tuple[str, ...] = ()
    #: Only paused (True) or unpaused (False) DAGs; None for both.
    paused: bool | None = None
    #: Also DAGs whose file disappeared.
    include_inactive: bool = False


def _definitions(session: Session, hashes: Collection[str]) -> dict[str, dag_pb2.DagDefinition]:
    """The decoded definitions of the DAG versions with these content hashes."""
    if not hashes:
        return {}
    return {
        content_hash: dag_pb2.DagDefinition.FromString(blob)
        for content_hash, blob in session.execute(
            select(DagVersion.content_hash, DagVersion.definition).where(
                DagVersion.content_hash.in_(set(hashes))
            )
        )
    }


@dataclass(frozen=True)
class DagView:
    """A DAG with the definition of its current version (None if that version is gone)."""

    row: Dag
    definition: dag_pb2.DagDefinition | None


@dataclass(frozen=True)
class DagFileView:
    """A DAG file and whether its last parse failed."""

    row: DagFile
    has_import_error: bool


def _dags(session: Session, rows: Sequence[Dag]) -> list[DagView]:
    """DAGs with their current versions' definitions, read in one query."""
    definitions = _definitions(session, [row.content_hash for row in rows])
    return [DagView(row, definitions.get(row.content_hash)) for row in rows]


def list_dags(session: Session, dag_filter: DagFilter, page: PageRequest) -> Page[DagView]:
    """One page of the DAGs matching ``dag_filter``, by id."""
    query = select(Dag)
    if dag_filter.dag_id_contains:
        query = query.where(icontains(Dag.dag_id, dag_filter.dag_id_contains))
    for tag in dag_filter.tags:
        query = query.where(_has_tag(tag))
    if dag_filter.paused is not None:
        query = query.where(Dag.is_paused.is_(dag_filter.paused))
    if not dag_filter.include_inactive:
        query = query.where(Dag.is_active.is_(True))
    found = keyset_page(session, query, Dag.dag_id, page)
    return Page(_dags(session, found.items), found.next_page_token, found.total_size)


def get_dag(session: Session, dag_id: str) -> DagView | None:
    """One DAG; None when unknown."""
    row = session.get(Dag, dag_id)
    return None if row is None else _dags(session, [row])[0]


def set_dag_paused(session: Session, dag_id: str, paused: bool, now: datetime) -> DagView | None:
    """Pause or unpause a DAG; an event is recorded only when that changes it.

    Returns:
        The DAG as it is now; None when unknown.

    """
    row = session.get(Dag, dag_id, with_for_update=True)
    if row is None:
        return None
    if row.is_paused != paused:
        row.is_paused = paused
        row.updated_at = now
        record_event(session, type=event_pb2.EVENT_TYPE_DAG_PAUSED_CHANGED, dag_id=dag_id)
    return _dags(session, [row])[0]


def delete_dag(session: Session, dag_id: str) -> int | None:
    """Delete a DAG, its versions and its runs (task instances, tries, XCom and logs cascade).

    Returns:
        How many runs were deleted; None when the DAG is unknown.

    """
    if session.get(Dag, dag_id, with_for_update=True) is None:
        return None
    runs = session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id))
    # Deleted with SQL rather than through the session: the database's ON DELETE CASCADE
    # removes the history in the same statement.
    session.execute(delete(Dag).where(Dag.dag_id == dag_id))
    session.execute(delete(DagVersion).where(DagVersion.dag_id == dag_id))
    record_event(session, type=event_pb2.EVENT_TYPE_DAG_DEACTIVATED, dag_id=dag_id)
    return int(runs or 0)


# ---- DAG files and import errors ----


def list_dag_files(session: Session, page: PageRequest) -> Page[DagFileView]:
    """One page of the DAG files the processors know, by relative path."""
    found = keyset_page(session, select(DagFile), DagFile.relative_fileloc, page)
    paths = [row.relative_fileloc for row in found.items]
    failed = (
        set(
            session.scalars(
                select(ImportError.relative_fileloc).where(ImportError.relative_fileloc.in_(paths))
            )
        )
        if paths
        else set()
    )
    return found.map(lambda row: DagFileView(row, row.relative_fileloc in failed))


def list_import_errors(
    session: Session, filename_contains: str, page: PageRequest
) -> Page[ImportError]:
    """One page of the import errors, by relative path.

    ``filename_contains`` matches the absolute or the relative path, ignoring case like the
    other substring filters of the API.
    """
    query = select(ImportError)
    if filename_contains:
        query = query.where(
            or_(
                icontains(ImportError.fileloc, filename_contains),
                icontains(ImportError.relative_fileloc, filename_contains),
            )
        )
    return keyset_page(session, query, ImportError.relative_fileloc, page)
