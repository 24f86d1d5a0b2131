"""DAGs, DAG files and import errors as the public API shows them, and keyset pages.

The page helpers (:func:`page_request`, :func:`keyset_page`) serve every listing of the public
API, the resources in :mod:`services.state.store.resources` included: each listing is ordered by
one unique text column, and a page starts after the last key of the previous one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Integer, Select, delete, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.runtime.errors import InvalidArgument
from services.state import paging
from services.state.convert import dag_file_to_proto, dag_to_proto, import_error_to_proto
from services.state.db.event_log import record_event
from services.state.db.models import Base, Dag, DagFile, DagRun, DagVersion, ImportError

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=Base)


# ---- Pages ----


@dataclass(frozen=True)
class PageRequest:
    """A validated page request of one listing."""

    #: How many items to return at most.
    size: int
    #: The sort key of the last item of the previous page; None for the first page.
    after: str | None
    #: The listing's name and filters; a page token is valid only with the same ones.
    scope: Mapping[str, Any]


def page_request(
    listing: str, page_size: int, page_token: str, filters: Mapping[str, Any] | None = None
) -> PageRequest:
    """Check the paging fields of a List* request.

    Args:
        listing: the RPC's name, so that a token of one listing is refused by another.
        page_size: as requested; 0 means the default, above the maximum means the maximum.
        page_token: the previous response's ``next_page_token``, "" for the first page.
        filters: the request's filters, JSON-encodable (sort repeated values first).

    Returns:
        The page to read.

    Raises:
        InvalidArgument: a negative ``page_size``, or a ``page_token`` that is malformed or
            was made for another listing or other filters.

    """
    size = paging.page_size(page_size)
    scope = {"listing": listing, **(filters or {})}
    last_key = paging.decode_token(page_token, scope)
    if last_key is None:
        return PageRequest(size=size, after=None, scope=scope)
    if len(last_key) != 1 or not isinstance(last_key[0], str):
        raise InvalidArgument("page_token", "is not a token this server made")
    return PageRequest(size=size, after=last_key[0], scope=scope)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing."""

    items: list[T]
    #: "" on the last page.
    next_page_token: str
    #: How many items match the filters, over all pages.
    total_size: int

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with every item converted."""
        return Page(
            items=[convert(item) for item in self.items],
            next_page_token=self.next_page_token,
            total_size=self.total_size,
        )


def keyset_page(
    session: Session,
    query: Select[M],
    key: InstrumentedAttribute[str],
    page: PageRequest,
) -> Page[M]:
    """Read one page of ``query`` (a filtered select of one model) in ``key`` order.

    Args:
        session: the transaction to read in.
        query: the rows that match the listing's filters, unordered.
        key: a unique column to order and resume by.
        page: where to start and how many rows to return.

    Returns:
        The rows of the page, the token of the next one and the number of matching rows.

    """
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if page.after is not None:
        query = query.where(key > page.after)
    rows = list(session.scalars(query.order_by(key).limit(page.size + 1)))
    token = paging.next_token(rows, page.size, lambda row: [getattr(row, key.key)], page.scope)
    return Page(items=rows[: page.size], next_page_token=token, total_size=int(total))


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


def _dags(
    session: Session, rows: Sequence[Dag], *, include_definition: bool = False
) -> list[dag_pb2.Dag]:
    """The public views of DAGs, with the schedule of their current version.

    The whole definition is attached when ``include_definition``.
    """
    definitions = _definitions(session, [row.content_hash for row in rows])
    messages = []
    for row in rows:
        definition = definitions.get(row.content_hash)
        message = dag_to_proto(row, definition if include_definition else None)
        if definition is not None:
            message.schedule.CopyFrom(definition.schedule)
        messages.append(message)
    return messages


def list_dags(session: Session, dag_filter: DagFilter, page: PageRequest) -> Page[dag_pb2.Dag]:
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


def get_dag(session: Session, dag_id: str, *, include_definition: bool) -> dag_pb2.Dag | None:
    """One DAG, with its tasks and edges when ``include_definition``; None when unknown."""
    row = session.get(Dag, dag_id)
    if row is None:
        return None
    return _dags(session, [row], include_definition=include_definition)[0]


def set_dag_paused(
    session: Session, dag_id: str, paused: bool, now: datetime
) -> dag_pb2.Dag | None:
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


def list_dag_files(session: Session, page: PageRequest) -> Page[dag_pb2.DagFile]:
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
    return found.map(
        lambda row: dag_file_to_proto(row, has_import_error=row.relative_fileloc in failed)
    )


def list_import_errors(
    session: Session, filename_contains: str, page: PageRequest
) -> Page[dag_pb2.ImportError]:
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
    return keyset_page(session, query, ImportError.relative_fileloc, page).map(
        import_error_to_proto
    )
