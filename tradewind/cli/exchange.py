"""Variables and connections in Airflow's JSON file formats, both ways.

Variables: ``{"key": value}``, or ``{"key": {"value": value, "description": "..."}}`` for a
variable with a description; a value that is JSON text is written decoded, and a value that is
not a string is stored as its JSON text (``airflow variables import|export``). Connections:
``{"conn_id": {"conn_type": ..., "host": ..., "login": ..., "password": ..., "schema": ...,
"port": ..., "extra": "...", "description": ...}}``, where ``extra`` may also be an object and
a whole entry may be a connection URI (``airflow connections import|export``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewind.cli.conn_uri import connection_from_uri
from tradewind.client import Connection, Variable

#: The fields of a connection entry, as Airflow writes them.
CONNECTION_FIELDS = ("conn_type", "description", "host", "login", "password", "schema", "port")


@dataclass(frozen=True)
class VariableEntry:
    """One variable read from a file."""

    key: str
    value: str
    description: str = ""


def variables_document(variables: Iterable[Variable]) -> dict[str, Any]:
    """The variables as Airflow's export file holds them."""
    document: dict[str, Any] = {}
    for variable in variables:
        try:
            value: Any = json.loads(variable.value)
        except ValueError:
            value = variable.value
        document[variable.key] = (
            {"value": value, "description": variable.description} if variable.description else value
        )
    return document


def variable_entries(document: Any) -> list[VariableEntry]:
    """The variables of an import file.

    Raises:
        ValueError: the file is not a JSON object of variables.

    """
    if not isinstance(document, Mapping):
        raise ValueError("a variables file is a JSON object of key: value")
    entries = []
    for key, raw in document.items():
        value, description = raw, ""
        if isinstance(raw, Mapping) and "value" in raw:
            value, description = raw["value"], str(raw.get("description") or "")
        text = value if isinstance(value, str) else json.dumps(value)
        entries.append(VariableEntry(str(key), text, description))
    return entries


def connections_document(connections: Iterable[Connection]) -> dict[str, Any]:
    """The connections (with their secrets) as Airflow's export file holds them."""
    return {
        connection.conn_id: {
            "conn_type": connection.conn_type,
            "description": connection.description or None,
            "host": connection.host or None,
            "login": connection.login or None,
            "password": connection.password or None,
            "schema": connection.schema or None,
            "port": connection.port,
            "extra": connection.extra_json or None,
        }
        for connection in connections
    }


def connection_entries(document: Any) -> list[Connection]:
    """The connections of an import file.

    Raises:
        ValueError: the file is not a JSON object of connections, or an entry is malformed.

    """
    if not isinstance(document, Mapping):
        raise ValueError("a connections file is a JSON object of conn_id: connection")
    connections = []
    for conn_id, entry in document.items():
        if isinstance(entry, str):
            connections.append(connection_from_uri(str(conn_id), entry))
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(f"connection {conn_id!r}: expected an object or a URI")
        unknown = set(entry) - {*CONNECTION_FIELDS, "extra", "conn_id"}
        if unknown:
            raise ValueError(
                f"connection {conn_id!r}: unknown field(s) {', '.join(sorted(unknown))}"
            )
        if not entry.get("conn_type"):
            raise ValueError(f"connection {conn_id!r}: conn_type is required")
        extra = entry.get("extra")
        if isinstance(extra, Mapping):
            extra = json.dumps(extra)
        port = entry.get("port")
        connections.append(
            Connection(
                conn_id=str(conn_id),
                conn_type=str(entry["conn_type"]),
                host=str(entry.get("host") or ""),
                schema=str(entry.get("schema") or ""),
                login=str(entry.get("login") or ""),
                password=str(entry.get("password") or ""),
                port=int(port) if port not in (None, "") else None,
                extra_json=str(extra or ""),
                description=str(entry.get("description") or ""),
            )
        )
    return connections


def read_document(path: str) -> Any:
    """The JSON document in the file at ``path`` ("-" for standard input).

    Raises:
        ValueError: the file cannot be read or is not JSON; the message says which.

    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{path} is not JSON: {err}") from err


def write_document(path: str, document: Mapping[str, Any]) -> None:
    """Write ``document`` as indented JSON to ``path`` ("-" for standard output).

    Raises:
        ValueError: the file cannot be written.

    """
    text = json.dumps(document, sort_keys=True, indent=4) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise ValueError(f"cannot write {path}: {err.strerror or err}") from err
