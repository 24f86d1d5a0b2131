"""``tradewind state``: run the state service."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.runtime.server import service_main
from services.state.app import build_app
from services.state.settings import DEFAULT_METRICS_PORT, DEFAULT_PORT, STATE_SETTINGS


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the state service until SIGTERM; return the exit status."""
    return service_main(
        "state",
        sys.argv[1:] if argv is None else argv,
        build_app,
        port=DEFAULT_PORT,
        metrics_port=DEFAULT_METRICS_PORT,
        description="The state service: the system of record, the only owner of the database.",
        extra_settings=STATE_SETTINGS,
    )
