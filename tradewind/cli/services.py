"""The commands that run Tradewind's services; each parses its own flags.

The CLI names each service's entry point by module and function and imports it only when that
command runs: the client side of Tradewind never imports server code otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

#: Commands that take their own flags (``tradewind state --port 50051``): their entry points.
SERVICE_ENTRY_POINTS: dict[tuple[str, ...], str] = {
    ("state",): "services.state.main:main",
    ("scheduler",): "scheduler.main:main",
    ("executor",): "executor.main:main",
    ("dag-processor",): "dag_processor.main:main",
    ("triggerer",): "triggerer.main:main",
    ("db", "migrate"): "services.state.main:migrate_main",
    ("db", "rotate-fernet-key"): "services.state.main:rotate_key_main",
    ("standalone",): "tradewind.cli.standalone:main",
}


def _entry_point(target: str) -> Callable[[Sequence[str]], int]:
    def run(argv: Sequence[str]) -> int:
        module, function = target.split(":")
        main: Callable[[Sequence[str]], int] = getattr(importlib.import_module(module), function)
        return main(argv)

    return run


SERVICE_COMMANDS: dict[tuple[str, ...], Callable[[Sequence[str]], int]] = {
    words: _entry_point(target) for words, target in SERVICE_ENTRY_POINTS.items()
}

#: Their one-line help, for the overview.
SERVICE_HELP = {
    "standalone": "run every service on this machine, supervised (tradewind standalone --help)",
    "state": "run the state service (tradewind state --help)",
    "scheduler": "run a scheduler (tradewind scheduler --help)",
    "executor": "run an executor (tradewind executor --help)",
    "dag-processor": "run a DAG processor (tradewind dag-processor --help)",
    "triggerer": "run a triggerer (tradewind triggerer --help)",
}
