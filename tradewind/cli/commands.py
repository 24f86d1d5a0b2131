"""The commands that talk to a running Tradewind suite through the public API.

``dags``, ``runs``, ``tasks``, ``variables``, ``connections``, ``pools``, ``import-errors``,
``dag-warnings`` and ``assets``; each noun lives in its own module and runs through
:mod:`tradewind.cli.runner`.
"""

from __future__ import annotations

from tradewind.cli import (
    assets,
    connections,
    dag_warnings,
    dags,
    import_errors,
    pools,
    runs,
    tasks,
    variables,
)
from tradewind.cli.runner import Subcommands

#: The modules whose ``register`` adds a noun, in the order ``tradewind --help`` lists them.
NOUNS = (
    dags,
    runs,
    tasks,
    variables,
    connections,
    pools,
    import_errors,
    dag_warnings,
    assets,
)


def register(subcommands: Subcommands) -> None:
    """Add the user commands (dags, runs, tasks, ...) to the ``tradewind`` parser.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    for noun in NOUNS:
        noun.register(subcommands)
