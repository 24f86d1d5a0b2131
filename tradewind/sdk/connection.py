"""Connections: where and how to reach an external system, read through the task runtime."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tradewind.sdk.runtime import current_runtime


@dataclass(frozen=True)
class Connection:
    """A connection with Airflow's fields.

    Use ``Connection.get(conn_id)`` in task code to read one.
    """

    #: The connection's id, e.g. "warehouse".
    conn_id: str
    #: "postgres", "http", "aws", ...
    conn_type: str = ""
    description: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = None
    #: The database or path part ("schema" in Airflow).
    schema: str | None = None
    port: int | None = None
    #: Provider-specific settings, a JSON object as text.
    extra: str | None = None

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """Read a connection through the current task runtime.

        Args:
            conn_id: the connection's id.

        Returns:
            The connection.

        Raises:
            ConnectionNotFound: when it does not exist.
            NoTaskContext: outside a running task.

        """
        return current_runtime().get_connection(conn_id)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as a JSON object ({} when empty or not an object)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_uri(self) -> str:
        """The connection as a URI, in Airflow's format.

        Returns:
            e.g. ``postgres://user:secret@db.example:5432/sales?sslmode=require``.

        """
        uri = f"{self.conn_type.lower().replace('_', '-')}://"
        authority = ""
        if self.login is not None:
            authority += quote(self.login, safe="")
        if self.password is not None:
            authority += ":" + quote(self.password, safe="")
        if authority:
            uri += authority + "@"
        host = quote(self.host, safe="") if self.host else ""
        if self.port:
            host += f"@:{self.port}" if not host and not authority else f":{self.port}"
        if self.schema:
            host += f"/{quote(self.schema, safe='')}"
        uri += host
        if self.extra:
            extras = self.extra_dejson
            query = urlencode(extras) if _is_flat(extras) else ""
            if not query or dict(parse_qsl(query, keep_blank_values=True)) != extras:
                query = urlencode({"__extra__": self.extra})
            uri += ("?" if self.schema else "/?") + query
        return uri

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Build a connection from a URI in the format of ``get_uri``.

        Args:
            conn_id: the id to give the connection.
            uri: the URI.

        Returns:
            The connection.

        """
        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra = query.pop("__extra__", None)
        if extra is None and query:
            extra = json.dumps(query, sort_keys=True)
        path = parts.path.lstrip("/")
        return cls(
            conn_id=conn_id,
            conn_type=parts.scheme.replace("-", "_"),
            host=unquote(parts.hostname) if parts.hostname else None,
            login=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            schema=unquote(path) if path else None,
            port=parts.port,
            extra=extra,
        )


def _is_flat(extras: dict[str, Any]) -> bool:
    return all(isinstance(value, str | int | float) for value in extras.values())
