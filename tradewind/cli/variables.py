"""``tradewind variables list|get|set|delete|import|export``."""

from __future__ import annotations

import argparse

from tradewind.cli.exchange import (
    read_document,
    variable_entries,
    variables_document,
    write_document,
)
from tradewind.cli.output import Column, print_json, print_records
from tradewind.cli.runner import EXIT_OK, CommandFailed, Subcommands, add_command, add_noun
from tradewind.client import Client, Variable

VARIABLE_COLUMNS: list[Column[Variable]] = [
    Column("key", lambda v: v.key),
    Column("value", lambda v: v.value),
    Column("description", lambda v: v.description),
]


async def list_variables(client: Client, args: argparse.Namespace) -> int:
    """Print the variables."""
    variables = [v async for v in client.variables()]
    print_records(variables, VARIABLE_COLUMNS, args.output)
    return EXIT_OK


async def get(client: Client, args: argparse.Namespace) -> int:
    """Print a variable's value (the whole variable in JSON)."""
    variable = await client.get_variable(args.key)
    if args.output == "json":
        print_json(variable)
    else:
        print(variable.value)
    return EXIT_OK


async def set_(client: Client, args: argparse.Namespace) -> int:
    """Create or replace a variable."""
    variable = await client.set_variable(args.key, args.value, description=args.description)
    print(f"variable {variable.key!r} is set")
    return EXIT_OK


async def delete(client: Client, args: argparse.Namespace) -> int:
    """Delete a variable."""
    await client.delete_variable(args.key)
    print(f"variable {args.key!r} is deleted")
    return EXIT_OK


async def export(client: Client, args: argparse.Namespace) -> int:
    """Write every variable to a file in Airflow's format."""
    document = variables_document([v async for v in client.variables()])
    try:
        write_document(args.file, document)
    except ValueError as err:
        raise CommandFailed(str(err)) from None
    if args.file != "-":
        print(f"{len(document)} variable(s) successfully exported to {args.file}")
    return EXIT_OK


async def import_(client: Client, args: argparse.Namespace) -> int:
    """Create or replace the variables of a file in Airflow's format."""
    try:
        entries = variable_entries(read_document(args.file))
    except ValueError as err:
        raise CommandFailed(str(err)) from None
    existing = {v.key async for v in client.variables()}
    taken = sorted(e.key for e in entries if e.key in existing)
    if args.action_on_existing_key == "fail" and taken:
        raise CommandFailed(f"these variables exist already: {', '.join(taken)}; nothing imported")
    skipped = taken if args.action_on_existing_key == "skip" else []
    written = 0
    for entry in entries:
        if entry.key not in skipped:
            await client.set_variable(entry.key, entry.value, description=entry.description)
            written += 1
    print(f"{written} of {len(entries)} variable(s) successfully updated")
    if skipped:
        print(f"skipped because they exist already: {', '.join(skipped)}")
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind variables ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(subcommands, "variables", help="manage the variables tasks read")
    add_command(verbs, "list", list_variables, help="list the variables", output=True)
    parser = add_command(verbs, "get", get, help="print a variable's value", output=True)
    parser.add_argument("key", metavar="KEY")
    parser = add_command(verbs, "set", set_, help="create or replace a variable")
    parser.add_argument("key", metavar="KEY")
    parser.add_argument("value", metavar="VALUE")
    parser.add_argument("--description", default="", help="what the variable is for")
    parser = add_command(verbs, "delete", delete, help="delete a variable")
    parser.add_argument("key", metavar="KEY")
    parser = add_command(
        verbs, "export", export, help="write every variable to a JSON file (Airflow's format)"
    )
    parser.add_argument("file", metavar="FILE", help="the file to write; - for standard output")
    parser = add_command(
        verbs, "import", import_, help="create or replace the variables of a JSON file"
    )
    parser.add_argument("file", metavar="FILE", help="the file to read; - for standard input")
    parser.add_argument(
        "--action-on-existing-key",
        choices=("overwrite", "fail", "skip"),
        default="overwrite",
        help="what to do with a variable that exists already (default: overwrite)",
    )
