"""``tradewind import-errors [list]``: the DAG files that failed to import."""

from __future__ import annotations

import argparse

from tradewind.cli.output import Column, print_records
from tradewind.cli.runner import EXIT_OK, Subcommands, add_listing
from tradewind.client import Client, DagImportError

IMPORT_ERROR_COLUMNS: list[Column[DagImportError]] = [
    Column("file", lambda e: e.relative_filename or e.filename),
    Column("line", lambda e: e.line_number or None),
    Column("error", lambda e: e.message),
    Column("when", lambda e: e.timestamp),
]


async def list_import_errors(client: Client, args: argparse.Namespace) -> int:
    """Print the files that failed to import (tracebacks in JSON)."""
    errors = [e async for e in client.import_errors()]
    print_records(errors, IMPORT_ERROR_COLUMNS, args.output)
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind import-errors``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    add_listing(
        subcommands,
        "import-errors",
        list_import_errors,
        help="list the DAG files that failed to import",
    )
