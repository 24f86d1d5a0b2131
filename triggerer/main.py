"""``tradewind triggerer``: run a triggerer replica."""

from __future__ import annotations

from services.runtime.server import entry_point
from triggerer.service import build_app
from triggerer.settings import SERVICE

#: Serve until SIGTERM; return the exit status.
main = entry_point(SERVICE, build_app)
