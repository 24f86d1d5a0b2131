"""Variables, connections and pools: the resources that tasks use, as the public API edits them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.states import ACTIVE
from protos.enums.v1 import event_pb2
from protos.resource.v1 import message_pb2 as resource_pb2
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.state.convert import pool_to_proto, variable_to_proto
from services.state.crypto import SecretBox
from services.state.db.event_log import record_event
from services.state.db.models import Base, Connection, Pool, TaskInstance, Variable
from services.state.housekeeping import DEFAULT_POOL
from services.state.paging import Page, PageRequest, keyset_page
from services.state.store.catalog import icontains
from services.state.store.pools import pool_usages
from services.state.validation import identifier, json_object

M = TypeVar("M", bound=Base)

#: Pool size meaning "no limit".
#: What the API shows instead of a secret that is set.
REDACTED = "***"
#: The highest TCP port.
MAX_PORT = 65535


def _upsert(
    session: Session, model: type[M], key: str, write: Callable[[M, bool], bool]
) -> tuple[M, bool]:
    """Lock the row of ``model`` whose primary key is ``key`` and write to it; create it if absent.

    Args:
        session: the transaction.
        model: the model, whose primary key is one text column.
        key: the row's primary key.
        write: sets the row's fields from the request; called with the row and whether it is
            new, it returns whether it changed anything.

    Returns:
        The row, and whether it was created or changed.

    """
    row = session.get(model, key, with_for_update=True)
    if row is not None:
        return row, write(row, False)
    row = model(**{inspect(model).primary_key[0].name: key})
    write(row, True)
    try:
        # A savepoint, so that losing an insert race to another replica leaves the
        # transaction usable: the winner's row is then locked and written instead.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = session.get(model, key, with_for_update=True, populate_existing=True)
        if existing is None:
            raise
        return existing, write(existing, False)
    return row, True


def _delete(session: Session, key_column: InstrumentedAttribute[str], key: str) -> bool:
    """Delete the row whose ``key_column`` is ``key``; return whether there was one."""
    result = session.execute(delete(key_column.class_).where(key_column == key))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---- Variables ----


def list_variables(
    session: Session, key_contains: str, page: PageRequest
) -> Page[resource_pb2.Variable]:
    """One page of the variables whose key contains ``key_contains`` (ignoring case), by key."""
    query = select(Variable)
    if key_contains:
        query = query.where(icontains(Variable.key, key_contains))
    return keyset_page(session, query, Variable.key, page).map(variable_to_proto)


def find_variable(session: Session, key: str) -> resource_pb2.Variable | None:
    """One variable; None when unknown."""
    row = session.get(Variable, key)
    return None if row is None else variable_to_proto(row)


def upsert_variable(session: Session, variable: resource_pb2.Variable) -> resource_pb2.Variable:
    """Create or replace a variable (its key already checked)."""

    def write(row: Variable, new: bool) -> bool:
        row.value = variable.value
        row.description = variable.description
        return True

    return variable_to_proto(_upsert(session, Variable, variable.key, write)[0])


def remove_variable(session: Session, key: str) -> bool:
    """Delete a variable; return whether it existed."""
    return _delete(session, Variable.key, key)


# ---- Connections ----

#: The fields of a Connection that SetConnection's update_mask may name.
CONNECTION_FIELDS = frozenset(
    {"conn_type", "host", "schema", "login", "password", "port", "extra_json", "description"}
)


def connection_fields(paths: Sequence[str]) -> frozenset[str]:
    """The fields an update mask replaces; every field for an empty mask.

    Raises:
        InvalidArgument: a path that names no replaceable field.

    """
    if not paths:
        return CONNECTION_FIELDS
    for path in paths:
        if path not in CONNECTION_FIELDS:
            raise InvalidArgument(
                "update_mask",
                f"names {path!r}, which is not a replaceable connection field; use some of"
                f" {', '.join(sorted(CONNECTION_FIELDS))}",
            )
    return frozenset(paths)


def _check_connection(connection: resource_pb2.Connection, fields: Collection[str]) -> None:
    """Refuse malformed values among the ``fields`` that are about to be written."""
    if "conn_type" in fields:
        identifier(connection.conn_type, "connection.conn_type")
    for name in ("password", "extra_json"):
        # A redacted connection written back whole would replace its secrets with "***".
        if name in fields and getattr(connection, name) == REDACTED:
            raise InvalidArgument(
                f"connection.{name}",
                f"is the redacted {REDACTED!r}; leave {name} out of update_mask to keep the"
                " stored value",
            )
    if "extra_json" in fields and connection.extra_json:
        json_object(connection.extra_json, "connection.extra_json")
    if "port" in fields and connection.HasField("port") and not 0 < connection.port <= MAX_PORT:
        raise InvalidArgument("connection.port", f"must be between 1 and {MAX_PORT}, or unset")


def connection_to_proto(
    row: Connection, secrets: SecretBox | None = None
) -> resource_pb2.Connection:
    """A connection with its secrets decrypted by ``secrets``, or redacted without it."""

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


def list_connections(
    session: Session, conn_id_contains: str, page: PageRequest
) -> Page[resource_pb2.Connection]:
    """One page of the connections whose id contains ``conn_id_contains``, by id, redacted.

    The filter ignores case.
    """
    query = select(Connection)
    if conn_id_contains:
        query = query.where(icontains(Connection.conn_id, conn_id_contains))
    return keyset_page(session, query, Connection.conn_id, page).map(connection_to_proto)


def find_connection(
    session: Session, conn_id: str, secrets: SecretBox, *, reveal: bool
) -> resource_pb2.Connection | None:
    """One connection, its secrets in clear when ``reveal`` else redacted; None when unknown.

    Raises:
        FailedPrecondition: ``reveal`` and the secrets were encrypted with another key.

    """
    row = session.get(Connection, conn_id)
    if row is None:
        return None
    return connection_to_proto(row, secrets if reveal else None)


def upsert_connection(
    session: Session,
    connection: resource_pb2.Connection,
    fields: Collection[str],
    secrets: SecretBox,
) -> resource_pb2.Connection:
    """Create a connection from every field of ``connection``, or replace ``fields`` of it.

    The password and extras are stored encrypted with ``secrets``.

    Returns:
        The connection as stored, secrets redacted.

    Raises:
        InvalidArgument: a written field is malformed, e.g. an empty conn_type (also when a
            mask leaves conn_type out but the connection does not exist yet).

    """

    def write(row: Connection, new: bool) -> bool:
        written = CONNECTION_FIELDS if new else fields
        _check_connection(connection, written)
        for name in ("conn_type", "host", "schema", "login", "description"):
            if name in written:
                setattr(row, name, getattr(connection, name))
        if "port" in written:
            row.port = connection.port if connection.HasField("port") else None
        if "password" in written:
            row.password_encrypted = secrets.encrypt(connection.password)
        if "extra_json" in written:
            row.extra_encrypted = secrets.encrypt(connection.extra_json)
        return True

    return connection_to_proto(_upsert(session, Connection, connection.conn_id, write)[0])


def remove_connection(session: Session, conn_id: str) -> bool:
    """Delete a connection; return whether it existed."""
    return _delete(session, Connection.conn_id, conn_id)


# ---- Pools ----


def list_pools(session: Session, name_contains: str, page: PageRequest) -> Page[resource_pb2.Pool]:
    """One page of the pools whose name contains ``name_contains``, by name, with usage.

    The filter ignores case.
    """
    query = select(Pool)
    if name_contains:
        query = query.where(icontains(Pool.name, name_contains))
    found = keyset_page(session, query, Pool.name, page)
    return Page(
        [pool_to_proto(u) for u in pool_usages(session, found.items)],
        found.next_page_token,
        found.total_size,
    )


def find_pool(session: Session, name: str) -> resource_pb2.Pool | None:
    """One pool with its slot usage; None when unknown."""
    row = session.get(Pool, name)
    return None if row is None else pool_to_proto(pool_usages(session, [row])[0])


def upsert_pool(session: Session, pool: resource_pb2.Pool) -> resource_pb2.Pool:
    """Create or resize a pool (name and slots already checked); the read-only counts are ignored.

    An event tells the schedulers when the pool was created or changed.
    """
    wanted = (pool.slots, pool.description, pool.include_deferred)

    def write(row: Pool, new: bool) -> bool:
        if not new and (row.slots, row.description, row.include_deferred) == wanted:
            return False
        row.slots, row.description, row.include_deferred = wanted
        return True

    row, changed = _upsert(session, Pool, pool.name, write)
    if changed:
        record_event(session, type=event_pb2.EVENT_TYPE_POOL_CHANGED, pool=pool.name)
    return pool_to_proto(pool_usages(session, [row])[0])


def remove_pool(session: Session, name: str) -> bool:
    """Delete a pool that no queued or running task instance holds; return whether it existed.

    Raises:
        FailedPrecondition: the pool is default_pool, or task instances hold its slots.

    """
    if name == DEFAULT_POOL:
        raise FailedPrecondition(
            f"{DEFAULT_POOL} cannot be deleted: tasks without a pool use it; resize it instead"
        )
    row = session.get(Pool, name, with_for_update=True)
    if row is None:
        return False
    holders = session.scalar(
        select(func.count())
        .select_from(TaskInstance)
        .where(TaskInstance.pool == name, TaskInstance.state.in_(ACTIVE))
    )
    if holders:
        raise FailedPrecondition(
            f"pool {name!r} is in use by {holders} queued or running task instance(s);"
            " delete it once they have finished"
        )
    session.delete(row)
    record_event(session, type=event_pb2.EVENT_TYPE_POOL_CHANGED, pool=name)
    return True
