"""The ``tradewind`` command: ``tradewind <noun> <verb>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tradewind._version import tradewind_version


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every ``tradewind`` command."""
    parser = argparse.ArgumentParser(
        prog="tradewind",
        description="Tradewind: Airflow-style Python DAGs, run by a suite of gRPC services.",
    )
    parser.add_argument("--version", action="version", version=f"tradewind {tradewind_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", help="print the installed release")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tradewind`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        print(tradewind_version())
        return 0
    parser.print_help(sys.stderr)
    return 2
