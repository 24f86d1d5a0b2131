"""The commands that run Tradewind's services; each parses its own flags."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def _state(argv: Sequence[str]) -> int:
    from services.state.main import main

    return main(argv)


def _scheduler(argv: Sequence[str]) -> int:
    from scheduler.main import main

    return main(argv)


def _executor(argv: Sequence[str]) -> int:
    from executor.main import main

    return main(argv)


def _dag_processor(argv: Sequence[str]) -> int:
    from dag_processor.main import main

    return main(argv)


def _db_migrate(argv: Sequence[str]) -> int:
    from services.state.main import migrate_main

    return migrate_main(argv)


def _standalone(argv: Sequence[str]) -> int:
    from tradewind.cli.standalone import main

    return main(argv)


#: Commands that take their own flags: ``tradewind state --port 50051``.
SERVICE_COMMANDS: dict[tuple[str, ...], Callable[[Sequence[str]], int]] = {
    ("state",): _state,
    ("scheduler",): _scheduler,
    ("executor",): _executor,
    ("dag-processor",): _dag_processor,
    ("db", "migrate"): _db_migrate,
    ("standalone",): _standalone,
}

#: Their one-line help, for the overview.
SERVICE_HELP = {
    "standalone": "run every service on this machine, supervised (tradewind standalone --help)",
    "state": "run the state service (tradewind state --help)",
    "scheduler": "run a scheduler (tradewind scheduler --help)",
    "executor": "run an executor (tradewind executor --help)",
    "dag-processor": "run a DAG processor (tradewind dag-processor --help)",
}
