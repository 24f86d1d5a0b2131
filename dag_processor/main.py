"""``tradewind dag-processor``: run a DAG processor replica."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dag_processor.service import build_app
from dag_processor.settings import DEFAULT_METRICS_PORT, DEFAULT_PORT, PROCESSOR_SETTINGS
from services.runtime.server import service_main


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a DAG processor until SIGTERM; return the exit status."""
    return service_main(
        "dag_processor",
        sys.argv[1:] if argv is None else argv,
        build_app,
        port=DEFAULT_PORT,
        metrics_port=DEFAULT_METRICS_PORT,
        description="A Tradewind DAG processor: parses DAG files and registers their DAGs.",
        extra_settings=PROCESSOR_SETTINGS,
    )
