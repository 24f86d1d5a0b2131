"""How a command that talks to the state service runs: flags, connection, errors, exit status.

Each command is an async function of an open :class:`~tradewind.client.Client` and the parsed
arguments. :func:`add_command` adds its parser with the state service's connection flags (and
``--output`` for commands that print records); the runner connects, runs it, and turns every
failure into one line on stderr: exit status 1 for a failed operation, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from tradewind.client import DEFAULT_ADDRESS, Client, TradewindClientError, UnauthenticatedError
from tradewind_common.channels import ChannelConfig, ClientSettings
from tradewind_common.config import ConfigError, add_settings, resolve_settings

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = Any

#: The state service's connection settings: --state-address / TRADEWIND_STATE_ADDRESS, ...
STATE = ClientSettings.for_service("state", default_address=DEFAULT_ADDRESS)
#: How long a command waits for the state service to answer before saying it is unreachable.
CONNECT_TIMEOUT_SECONDS = 5.0
#: The deadline of each call a command makes.
RPC_TIMEOUT_SECONDS = 60.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: The shell's status for a command stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

#: A command: given an open client and the parsed arguments, do the work; return the status.
Command = Callable[[Client, argparse.Namespace], Awaitable[int]]
#: A check of the arguments that needs no server; raises UsageError.
Check = Callable[[argparse.Namespace], None]


class UsageError(Exception):
    """The command line is wrong; the message says which flag and why (exit status 2)."""


class CommandFailed(Exception):
    """The command could not do what was asked; the message says why (exit status 1)."""


class VerbParser(argparse.ArgumentParser):
    """A parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` and exit 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_noun(subcommands: Subcommands, name: str, *, help: str) -> Subcommands:
    """Add ``tradewind <name>`` and return the set of its verbs.

    Args:
        subcommands: the ``tradewind`` parser's commands.
        name: the noun, e.g. ``dags``.
        help: one line for the overview.

    Returns:
        Where to add its verbs with :func:`add_command`.

    """
    noun = subcommands.add_parser(name, help=help, description=help)
    noun.set_defaults(handler=lambda _args: _missing_verb(noun))
    verbs: Subcommands = noun.add_subparsers(
        dest=f"{name}_verb", metavar="VERB", parser_class=VerbParser
    )
    return verbs


def add_command(
    verbs: Subcommands,
    name: str,
    command: Command,
    *,
    help: str,
    output: bool = False,
    check: Check | None = None,
) -> argparse.ArgumentParser:
    """Add one command that talks to the state service.

    Args:
        verbs: where to add it (from :func:`add_noun`, or the top-level commands).
        name: the verb, e.g. ``list``.
        command: what it does.
        help: one line for the overview.
        output: whether it takes ``--output table|json``.
        check: a check of the arguments made before connecting.

    Returns:
        Its parser, to add the command's own arguments to.

    """
    parser = verbs.add_parser(name, help=help, description=help)
    if not isinstance(parser, VerbParser):  # a noun without verbs: make its errors one line too
        parser.error = VerbParser.error.__get__(parser)  # type: ignore[method-assign]
    if output:
        parser.add_argument(
            "-o",
            "--output",
            choices=("table", "json"),
            default="table",
            help="table for people (default), json for programs: one JSON document",
        )
    connection = parser.add_argument_group("reaching the state service")
    add_settings(connection, STATE.all())  # type: ignore[arg-type]
    parser.set_defaults(handler=_Runner(prog=parser.prog, command=command, check=check))
    return parser


def add_listing(
    verbs: Subcommands, noun: str, command: Command, *, help: str
) -> argparse.ArgumentParser:
    """Add a noun whose one verb is ``list``, optional (``tradewind NOUN [list]``).

    ``tradewind import-errors list`` then reads like the other nouns' commands.
    """
    parser = add_command(verbs, noun, command, help=help, output=True)
    parser.add_argument("verb", nargs="?", choices=["list"], help="list (the default)")
    return parser


@dataclass(frozen=True)
class _Runner:
    """The ``handler`` of a command: connect, run, map failures to one line and a status."""

    prog: str
    command: Command
    check: Check | None

    def __call__(self, args: argparse.Namespace) -> int:
        try:
            if self.check is not None:
                self.check(args)
            config = STATE.config(resolve_settings(args, STATE.all()))
            return asyncio.run(self._run(config, args))
        except (UsageError, ConfigError) as err:
            return self.fail(str(err), EXIT_USAGE)
        except UnauthenticatedError as err:
            hint = (
                "give the API token with --state-token or TRADEWIND_STATE_TOKEN(_FILE); for"
                " `tradewind standalone`, set TRADEWIND_HOME to its home: the CLI reads"
                " auth/api-token there"
            )
            return self.fail(f"{err} ({hint})", EXIT_FAILED)
        except (TradewindClientError, CommandFailed) as err:
            return self.fail(str(err), EXIT_FAILED)
        except KeyboardInterrupt:
            return self.fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, and keep Python's own flush at
            # exit from failing on the same pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FAILED

    async def _run(self, config: ChannelConfig, args: argparse.Namespace) -> int:
        client = Client.from_config(
            config, rpc_timeout=RPC_TIMEOUT_SECONDS, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        async with client:
            return await self.command(client, args)

    def fail(self, message: str, status: int) -> int:
        """Print one error line and return ``status``."""
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        return status


def _missing_verb(noun: argparse.ArgumentParser) -> int:
    noun.print_help(sys.stderr)
    return EXIT_USAGE


def confirm(question: str, *, assume_yes: bool) -> None:
    """Ask a yes/no question on stderr and read the answer from stdin.

    Args:
        question: what is about to happen, phrased as a question.
        assume_yes: skip the question (``--yes``).

    Raises:
        CommandFailed: the answer was not yes (end of input counts as no).

    """
    if assume_yes:
        return
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if not sys.stdin.isatty():  # no echo ended the question's line
        print(file=sys.stderr)
    if answer not in ("y", "yes"):
        raise CommandFailed("aborted: nothing was changed (pass --yes to skip this question)")
