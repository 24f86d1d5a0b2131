"""``tradewind scheduler``: run a scheduler replica."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from scheduler.service import build_app
from scheduler.settings import DEFAULT_METRICS_PORT, DEFAULT_PORT, SCHEDULER_SETTINGS
from services.runtime.server import service_main


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a scheduler until SIGTERM; return the exit status."""
    return service_main(
        "scheduler",
        sys.argv[1:] if argv is None else argv,
        build_app,
        port=DEFAULT_PORT,
        metrics_port=DEFAULT_METRICS_PORT,
        description="A Tradewind scheduler: decides which runs and task instances move next.",
        extra_settings=SCHEDULER_SETTINGS,
    )
