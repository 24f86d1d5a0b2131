"""``tradewind executor``: run an executor replica."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from executor.service import build_app
from executor.settings import DEFAULT_METRICS_PORT, DEFAULT_PORT, EXECUTOR_SETTINGS
from services.runtime.server import service_main


def main(argv: Sequence[str] | None = None) -> int:
    """Serve an executor until SIGTERM; return the exit status."""
    return service_main(
        "executor",
        sys.argv[1:] if argv is None else argv,
        build_app,
        port=DEFAULT_PORT,
        metrics_port=DEFAULT_METRICS_PORT,
        description="A Tradewind executor: leases queued tries and runs each in its own process.",
        extra_settings=EXECUTOR_SETTINGS,
    )
