"""Connections written as URIs, as Airflow reads them.

``postgres://user:p%40ss@db.example.com:5432/analytics?sslmode=require`` is a connection of
type ``postgres`` to host ``db.example.com``, port 5432, schema ``analytics``, login ``user``,
password ``p@ss`` and extras ``{"sslmode": "require"}``. Percent-escapes are decoded; a
``__extra__`` query parameter holds the extras as one JSON object instead.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote, urlsplit

from tradewind.client import Connection

#: The query parameter that carries the extras as one JSON object.
EXTRA_PARAMETER = "__extra__"
#: Scheme spellings Airflow rewrites.
_TYPE_ALIASES = {"postgresql": "postgres"}


def connection_from_uri(conn_id: str, uri: str, *, description: str = "") -> Connection:
    """Read a connection from its URI.

    Args:
        conn_id: the connection's id.
        uri: ``<type>://[login[:password]@]host[:port][/schema][?extra=value&...]``.
        description: what the connection is for.

    Returns:
        The connection.

    Raises:
        ValueError: the URI has no type, a bad port, or ``__extra__`` that is not a JSON object.

    """
    parts = urlsplit(uri)
    if not parts.scheme or "://" not in uri:
        raise ValueError("expected <type>://[login[:password]@]host[:port][/schema][?extra=value]")
    conn_type = parts.scheme.replace("-", "_")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {parts.netloc!r}") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    extra: dict[str, object] = dict(query)
    if EXTRA_PARAMETER in extra:
        try:
            decoded = json.loads(dict(query)[EXTRA_PARAMETER])
        except ValueError as err:
            raise ValueError(f"{EXTRA_PARAMETER} is not valid JSON ({err})") from None
        if not isinstance(decoded, dict):
            raise ValueError(f"{EXTRA_PARAMETER} must be a JSON object")
        extra = decoded
    return Connection(
        conn_id=conn_id,
        conn_type=_TYPE_ALIASES.get(conn_type, conn_type),
        host=unquote(parts.hostname or ""),
        schema=unquote(parts.path.removeprefix("/")),
        login=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        port=port,
        extra_json=json.dumps(extra) if extra else "",
        description=description,
    )
