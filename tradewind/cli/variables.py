"""``tradewind variables list|get|set|delete``."""

from __future__ import annotations

import argparse

from tradewind.cli.output import Column, print_json, print_records
from tradewind.cli.runner import EXIT_OK, Subcommands, add_command, add_noun
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
