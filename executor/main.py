"""``tradewind executor``: run an executor replica."""

from __future__ import annotations

from executor.service import build_app
from executor.settings import SERVICE
from services.runtime.server import entry_point

#: Serve until SIGTERM; return the exit status.
main = entry_point(SERVICE, build_app)
