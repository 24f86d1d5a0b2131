"""The ``tradewind`` command: ``tradewind <noun> <verb>``.

Service commands (``state``, ``scheduler``, ``executor``, ``dag-processor``, ``db migrate``,
``standalone``) take their own flags and are dispatched before argument parsing; the commands
that talk to a running suite (``dags``, ``runs``, ``tasks``, ...) live in
:mod:`tradewind.cli.commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tradewind.cli import commands
from tradewind.cli.services import SERVICE_COMMANDS, SERVICE_HELP
from tradewind_common.version import tradewind_version


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every ``tradewind`` command."""
    parser = argparse.ArgumentParser(
        prog="tradewind",
        description="Tradewind: Airflow-style Python DAGs, run by a suite of gRPC services.",
    )
    parser.add_argument("--version", action="version", version=f"tradewind {tradewind_version()}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    subcommands.add_parser("version", help="print the installed release")
    for name, what in SERVICE_HELP.items():
        subcommands.add_parser(name, help=what, add_help=False)
    db = subcommands.add_parser("db", help="database commands")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND")
    db_commands.add_parser(
        "migrate", help="migrate the database to the newest schema", add_help=False
    )
    db_commands.add_parser(
        "rotate-fernet-key",
        help="re-encrypt every connection secret and variable with the first secret key",
        add_help=False,
    )
    commands.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tradewind`` command; return its exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    for prefix, command in SERVICE_COMMANDS.items():
        if tuple(words[: len(prefix)]) == prefix:
            return command(words[len(prefix) :])
    parser = build_parser()
    args = parser.parse_args(words)
    if args.command == "version":
        print(tradewind_version())
        return 0
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)
