"""``tradewind dag-processor``: run a DAG processor replica."""

from __future__ import annotations

from dag_processor.service import build_app
from dag_processor.settings import SERVICE
from services.runtime.server import entry_point

#: Serve until SIGTERM; return the exit status.
main = entry_point(SERVICE, build_app)
