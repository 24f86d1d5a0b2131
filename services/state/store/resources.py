"""Variables, connections and pools: the resources that tasks use, as the public API edits them."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.states import ACTIVE
from protos.enums.v1 import event_pb2
from services.state.clock import utcnow
from services.state.crypto import REDACTED, SecretBox
from services.state.db.event_log import record_event
from services.state.db.models import Base, Connection, Pool, TaskInstance, Variable
from services.state.housekeeping import DEFAULT_POOL
from services.state.store.catalog import icontains
from services.state.store.checks import identifier_problem, json_object_problem
from services.state.store.errors import InvalidInput, Refused
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.pools import PoolUsage, pool_usages
from services.state.store.warnings import refresh_pool_warnings

M = TypeVar("M", bound=Base)

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


def list_variables(session: Session, key_contains: str, page: PageRequest) -> Page[Variable]:
    """One page of the variables whose key contains ``key_contains`` (ignoring case), by key."""
    query = select(Variable)
    if key_contains:
        query = query.where(icontains(Variable.key, key_contains))
    return keyset_page(session, query, Variable.key, page)


def find_variable(session: Session, key: str) -> Variable | None:
    """One variable; None when unknown."""
    return session.get(Variable, key)


def upsert_variable(
    session: Session, key: str, value: str, description: str, secrets: SecretBox
) -> Variable:
    """Create or replace a variable (its key already checked); the value is stored encrypted."""

    def write(row: Variable, new: bool) -> bool:
        row.value = secrets.encrypt(value)
        row.is_encrypted = True
        row.description = description
        return True

    return _upsert(session, Variable, key, write)[0]


def remove_variable(session: Session, key: str) -> bool:
    """Delete a variable; return whether it existed."""
    return _delete(session, Variable.key, key)


def variable_value(row: Variable, secrets: SecretBox) -> str:
    """The value of a stored variable, decrypted.

    Raises:
        Refused: it was encrypted with a key the service does not have.

    """
    return secrets.decrypt(row.value) if row.is_encrypted else row.value


@dataclass(frozen=True)
class Reencrypted:
    """What :func:`reencrypt_secrets` rewrote."""

    connections: int
    variables: int


def encrypt_plain_variables(session: Session, secrets: SecretBox) -> int:
    """Encrypt the values of variables written before variables were encrypted; return how many."""
    rows = session.scalars(select(Variable).where(Variable.is_encrypted.is_(False))).all()
    for row in rows:
        row.value, row.is_encrypted = secrets.encrypt(row.value), True
    return len(rows)


def reencrypt_secrets(session: Session, secrets: SecretBox) -> Reencrypted:
    """Encrypt every stored secret with the first key (after a key rotation).

    Raises:
        Refused: a secret was encrypted with a key not in the list; nothing is written.

    """
    connections = session.scalars(select(Connection)).all()
    for connection in connections:
        connection.password_encrypted = secrets.reencrypt(connection.password_encrypted)
        connection.extra_encrypted = secrets.reencrypt(connection.extra_encrypted)
    variables = session.scalars(select(Variable).where(Variable.is_encrypted.is_(True))).all()
    for variable in variables:
        variable.value = secrets.reencrypt(variable.value)
    plain = encrypt_plain_variables(session, secrets)
    return Reencrypted(connections=len(connections), variables=len(variables) + plain)


# ---- Connections ----

#: The fields of a Connection that SetConnection's update_mask may name.
CONNECTION_FIELDS = frozenset(
    {"conn_type", "host", "schema", "login", "password", "port", "extra_json", "description"}
)


@dataclass(frozen=True, kw_only=True)
class ConnectionValues:
    """A connection as a caller writes it; secrets in clear (they are stored encrypted)."""

    conn_id: str
    conn_type: str = ""
    host: str = ""
    schema: str = ""
    login: str = ""
    password: str = ""
    port: int | None = None
    extra_json: str = ""
    description: str = ""


def _check_connection(connection: ConnectionValues, fields: Collection[str]) -> None:
    """Refuse malformed values among the ``fields`` that are about to be written."""
    problem = identifier_problem(connection.conn_type) if "conn_type" in fields else None
    if problem is not None:
        raise InvalidInput("connection.conn_type", problem)
    for name in ("password", "extra_json"):
        # A redacted connection written back whole would replace its secrets with "***".
        if name in fields and getattr(connection, name) == REDACTED:
            raise InvalidInput(
                f"connection.{name}",
                f"is the redacted {REDACTED!r}; leave {name} out of update_mask to keep the"
                " stored value",
            )
    problem = json_object_problem(connection.extra_json) if "extra_json" in fields else None
    if connection.extra_json and problem is not None:
        raise InvalidInput("connection.extra_json", problem)
    if "port" in fields and connection.port is not None and not 0 < connection.port <= MAX_PORT:
        raise InvalidInput("connection.port", f"must be between 1 and {MAX_PORT}, or unset")


def list_connections(
    session: Session, conn_id_contains: str, page: PageRequest
) -> Page[Connection]:
    """One page of the connections whose id contains ``conn_id_contains``, by id, redacted.

    The filter ignores case.
    """
    query = select(Connection)
    if conn_id_contains:
        query = query.where(icontains(Connection.conn_id, conn_id_contains))
    return keyset_page(session, query, Connection.conn_id, page)


def find_connection(session: Session, conn_id: str) -> Connection | None:
    """One connection (its secrets encrypted); None when unknown."""
    return session.get(Connection, conn_id)


def upsert_connection(
    session: Session,
    connection: ConnectionValues,
    fields: Collection[str],
    secrets: SecretBox,
) -> Connection:
    """Create a connection from every field of ``connection``, or replace ``fields`` of it.

    The password and extras are stored encrypted with ``secrets``.

    Returns:
        The connection as stored.

    Raises:
        InvalidInput: a written field is malformed, e.g. an empty conn_type (also when a
            mask leaves conn_type out but the connection does not exist yet).

    """

    def write(row: Connection, new: bool) -> bool:
        written = CONNECTION_FIELDS if new else fields
        _check_connection(connection, written)
        for name in ("conn_type", "host", "schema", "login", "description"):
            if name in written:
                setattr(row, name, getattr(connection, name))
        if "port" in written:
            row.port = connection.port
        if "password" in written:
            row.password_encrypted = secrets.encrypt(connection.password)
        if "extra_json" in written:
            row.extra_encrypted = secrets.encrypt(connection.extra_json)
        return True

    return _upsert(session, Connection, connection.conn_id, write)[0]


def remove_connection(session: Session, conn_id: str) -> bool:
    """Delete a connection; return whether it existed."""
    return _delete(session, Connection.conn_id, conn_id)


# ---- Pools ----


def list_pools(session: Session, name_contains: str, page: PageRequest) -> Page[PoolUsage]:
    """One page of the pools whose name contains ``name_contains``, by name, with usage.

    The filter ignores case.
    """
    query = select(Pool)
    if name_contains:
        query = query.where(icontains(Pool.name, name_contains))
    found = keyset_page(session, query, Pool.name, page)
    return Page(pool_usages(session, found.items), found.next_page_token, found.total_size)


def find_pool(session: Session, name: str) -> PoolUsage | None:
    """One pool with its slot usage; None when unknown."""
    row = session.get(Pool, name)
    return None if row is None else pool_usages(session, [row])[0]


def upsert_pool(
    session: Session, name: str, *, slots: int, description: str, include_deferred: bool
) -> PoolUsage:
    """Create or resize a pool (name and slots already checked).

    An event tells the schedulers when the pool was created or changed.
    """
    wanted = (slots, description, include_deferred)

    def write(row: Pool, new: bool) -> bool:
        if not new and (row.slots, row.description, row.include_deferred) == wanted:
            return False
        row.slots, row.description, row.include_deferred = wanted
        return True

    row, changed = _upsert(session, Pool, name, write)
    if changed:
        record_event(session, type=event_pb2.EVENT_TYPE_POOL_CHANGED, pool=name)
        session.flush()
        refresh_pool_warnings(session, utcnow())
    return pool_usages(session, [row])[0]


def remove_pool(session: Session, name: str) -> bool:
    """Delete a pool that no queued or running task instance holds; return whether it existed.

    Raises:
        Refused: the pool is default_pool, or task instances hold its slots.

    """
    if name == DEFAULT_POOL:
        raise Refused(
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
        raise Refused(
            f"pool {name!r} is in use by {holders} queued or running task instance(s);"
            " delete it once they have finished"
        )
    session.delete(row)
    record_event(session, type=event_pb2.EVENT_TYPE_POOL_CHANGED, pool=name)
    session.flush()
    refresh_pool_warnings(session, utcnow())
    return True
