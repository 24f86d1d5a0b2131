"""``tradewind dag-warnings [list]``: problems of DAGs that are not import errors."""

from __future__ import annotations

import argparse

from tradewind.cli.output import Column, print_records
from tradewind.cli.runner import EXIT_OK, Subcommands, add_listing
from tradewind.client import Client, DagWarning

DAG_WARNING_COLUMNS: list[Column[DagWarning]] = [
    Column("dag_id", lambda w: w.dag_id),
    Column("type", lambda w: w.warning_type),
    Column("warning", lambda w: w.message),
    Column("since", lambda w: w.timestamp),
]


async def list_dag_warnings(client: Client, args: argparse.Namespace) -> int:
    """Print the DAG warnings (of one DAG with --dag-id)."""
    found = [w async for w in client.dag_warnings(args.dag_id)]
    print_records(found, DAG_WARNING_COLUMNS, args.output)
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind dag-warnings``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    parser = add_listing(
        subcommands,
        "dag-warnings",
        list_dag_warnings,
        help="list the DAG warnings (e.g. tasks naming a pool that does not exist)",
    )
    parser.add_argument("-d", "--dag-id", default="", help="only the warnings of this DAG")
