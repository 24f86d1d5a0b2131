"""``tradewind scheduler``: run a scheduler replica."""

from __future__ import annotations

from scheduler.service import build_app
from scheduler.settings import SERVICE
from services.runtime.server import entry_point

#: Serve until SIGTERM; return the exit status.
main = entry_point(SERVICE, build_app)
