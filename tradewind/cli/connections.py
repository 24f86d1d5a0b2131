"""``tradewind connections list|get|add|delete|import|export``."""

from __future__ import annotations

import argparse
import json

from tradewind.cli.arguments import json_object
from tradewind.cli.conn_uri import connection_from_uri
from tradewind.cli.exchange import (
    connection_entries,
    connections_document,
    read_document,
    write_document,
)
from tradewind.cli.output import Column, print_record, print_records
from tradewind.cli.runner import (
    EXIT_OK,
    CommandFailed,
    Subcommands,
    UsageError,
    add_command,
    add_noun,
)
from tradewind.client import Client, Connection, NotFoundError

CONNECTION_COLUMNS: list[Column[Connection]] = [
    Column("conn_id", lambda c: c.conn_id),
    Column("conn_type", lambda c: c.conn_type),
    Column("host", lambda c: c.host),
    Column("port", lambda c: c.port),
    Column("schema", lambda c: c.schema),
    Column("login", lambda c: c.login),
    Column("description", lambda c: c.description),
]

#: The flags that describe a connection field by field (instead of --conn-uri).
_FIELD_FLAGS = ("conn_type", "host", "login", "password", "port", "schema", "extra")


async def list_connections(client: Client, args: argparse.Namespace) -> int:
    """Print the connections, secrets redacted."""
    connections = [c async for c in client.connections()]
    print_records(connections, CONNECTION_COLUMNS, args.output)
    return EXIT_OK


async def get(client: Client, args: argparse.Namespace) -> int:
    """Print one connection."""
    connection = await client.get_connection(args.conn_id, reveal_secrets=args.reveal)
    fields: list[tuple[str, object]] = [
        (column.header, column.value(connection)) for column in CONNECTION_COLUMNS
    ]
    fields[-1:-1] = [("password", connection.password), ("extra", connection.extra_json)]
    print_record(connection, fields, args.output)
    return EXIT_OK


def check_add(args: argparse.Namespace) -> None:
    """Require either --conn-uri or --conn-type, not both."""
    given = [f"--{name.replace('_', '-')}" for name in _FIELD_FLAGS if getattr(args, name)]
    if args.conn_uri and given:
        raise UsageError(f"argument --conn-uri: cannot be combined with {', '.join(given)}")
    if not args.conn_uri and not args.conn_type:
        raise UsageError("one of --conn-uri or --conn-type is required")
    if args.conn_uri:
        try:
            connection_from_uri(args.conn_id, args.conn_uri)
        except ValueError as err:
            raise UsageError(f"argument --conn-uri: {err}") from None


def connection_of(args: argparse.Namespace) -> Connection:
    """The connection that ``connections add`` describes."""
    if args.conn_uri:
        return connection_from_uri(args.conn_id, args.conn_uri, description=args.description)
    return Connection(
        conn_id=args.conn_id,
        conn_type=args.conn_type,
        host=args.host or "",
        schema=args.schema or "",
        login=args.login or "",
        password=args.password or "",
        port=args.port,
        extra_json=json.dumps(args.extra) if args.extra else "",
        description=args.description,
    )


async def add(client: Client, args: argparse.Namespace) -> int:
    """Add a connection; refuse to overwrite one that exists."""
    try:
        await client.get_connection(args.conn_id)
    except NotFoundError:
        pass
    else:
        raise CommandFailed(
            f"connection {args.conn_id!r} already exists; delete it first to replace it"
        )
    connection = await client.set_connection(connection_of(args))
    print(f"connection {connection.conn_id!r} is added")
    return EXIT_OK


async def delete(client: Client, args: argparse.Namespace) -> int:
    """Delete a connection."""
    await client.delete_connection(args.conn_id)
    print(f"connection {args.conn_id!r} is deleted")
    return EXIT_OK


async def export(client: Client, args: argparse.Namespace) -> int:
    """Write every connection, secrets in clear, to a file in Airflow's format."""
    connections = [
        await client.get_connection(c.conn_id, reveal_secrets=True)
        async for c in client.connections()
    ]
    try:
        write_document(args.file, connections_document(connections))
    except ValueError as err:
        raise CommandFailed(str(err)) from None
    if args.file != "-":
        print(f"{len(connections)} connection(s) successfully exported to {args.file}")
    return EXIT_OK


async def import_(client: Client, args: argparse.Namespace) -> int:
    """Add the connections of a file in Airflow's format (--overwrite replaces existing ones)."""
    try:
        connections = connection_entries(read_document(args.file))
    except ValueError as err:
        raise CommandFailed(str(err)) from None
    existing = {c.conn_id async for c in client.connections()}
    imported = 0
    for connection in connections:
        if connection.conn_id in existing and not args.overwrite:
            print(f"could not import connection {connection.conn_id!r}: it exists already")
            continue
        await client.set_connection(connection)
        imported += 1
    print(f"{imported} of {len(connections)} connection(s) imported")
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind connections ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(subcommands, "connections", help="manage connections to external systems")
    add_command(
        verbs, "list", list_connections, help="list the connections (redacted)", output=True
    )
    parser = add_command(verbs, "get", get, help="show one connection", output=True)
    parser.add_argument("conn_id", metavar="CONN_ID")
    parser.add_argument(
        "--reveal", action="store_true", help="show the password and extras in clear"
    )

    parser = add_command(verbs, "add", add, help="add a connection", check=check_add)
    parser.add_argument("conn_id", metavar="CONN_ID")
    parser.add_argument(
        "--conn-uri", help="the whole connection as a URI, e.g. postgres://u:p@h:5432/db"
    )
    parser.add_argument("--conn-type", help="the connection type, e.g. postgres, http")
    parser.add_argument("--host")
    parser.add_argument("--login")
    parser.add_argument("--password")
    parser.add_argument("--port", type=int)
    parser.add_argument("--schema")
    parser.add_argument("--extra", type=json_object, help="provider settings, a JSON object")
    parser.add_argument("--description", default="", help="what the connection is for")

    parser = add_command(verbs, "delete", delete, help="delete a connection")
    parser.add_argument("conn_id", metavar="CONN_ID")

    parser = add_command(
        verbs,
        "export",
        export,
        help="write every connection, secrets in clear, to a JSON file (Airflow's format)",
    )
    parser.add_argument("file", metavar="FILE", help="the file to write; - for standard output")
    parser = add_command(verbs, "import", import_, help="add the connections of a JSON file")
    parser.add_argument("file", metavar="FILE", help="the file to read; - for standard input")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace connections that exist already"
    )
