"""The ``tradewind`` command: ``tradewind <noun> <verb>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tradewind._version import tradewind_version


def _state(argv: Sequence[str]) -> int:
    from services.state.main import main

    return main(argv)


def _scheduler(argv: Sequence[str]) -> int:
    from scheduler.main import main

    return main(argv)


def _db_migrate(argv: Sequence[str]) -> int:
    from services.state.main import migrate_main

    return migrate_main(argv)


#: Commands that take their own flags: ``tradewind state --port 50051``.
SERVICE_COMMANDS: dict[tuple[str, ...], Callable[[Sequence[str]], int]] = {
    ("state",): _state,
    ("scheduler",): _scheduler,
    ("db", "migrate"): _db_migrate,
}


#: The services the command runs, for its overview.
SERVICE_HELP = {"state": "the state service", "scheduler": "a scheduler"}


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``tradewind`` command's overview."""
    parser = argparse.ArgumentParser(
        prog="tradewind",
        description="Tradewind: Airflow-style Python DAGs, run by a suite of gRPC services.",
    )
    parser.add_argument("--version", action="version", version=f"tradewind {tradewind_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", help="print the installed release")
    for name, what in SERVICE_HELP.items():
        commands.add_parser(name, help=f"run {what} (tradewind {name} --help)", add_help=False)
    db = commands.add_parser("db", help="database commands")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND")
    db_commands.add_parser(
        "migrate", help="migrate the database to the newest schema", add_help=False
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tradewind`` command; return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    for words, command in SERVICE_COMMANDS.items():
        if tuple(args_list[: len(words)]) == words:
            return command(args_list[len(words) :])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "version":
        print(tradewind_version())
        return 0
    parser.print_help(sys.stderr)
    return 2
