"""The commands that talk to a running Tradewind suite through the public API."""

from __future__ import annotations

import argparse
from typing import Any


def register(subcommands: Any) -> None:
    """Add the user commands (dags, runs, tasks, ...) to the ``tradewind`` parser."""
    del subcommands  # arrives with the Python client


__all__ = ["argparse", "register"]
