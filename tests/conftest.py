"""Session-wide test setup: no TRADEWIND_* setting leaks in from the developer's shell."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clear_tradewind_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRADEWIND_"):
            monkeypatch.delenv(name)
