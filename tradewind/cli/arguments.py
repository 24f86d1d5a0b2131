"""Argument types for the commands' flags; each refuses a bad value with the reason.

argparse turns the ``ArgumentTypeError`` into one line naming the flag, e.g.
``tradewind dags trigger: error: argument --conf: not valid JSON (...)``, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def json_object(text: str) -> dict[str, Any]:
    """A JSON object given on the command line.

    Args:
        text: the flag's value.

    Returns:
        The decoded object.

    Raises:
        argparse.ArgumentTypeError: not JSON, or JSON but not an object.

    """
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err})") from None
    if not isinstance(value, dict):
        kind = type(value).__name__ if value is not None else "null"
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"key\": 1}}', not {kind}")
    return value


def date_time(text: str) -> datetime:
    """An ISO 8601 date or date and time; without an offset it is taken as UTC.

    Args:
        text: the flag's value, e.g. ``2026-01-01`` or ``2026-01-01T06:00:00+02:00``.

    Returns:
        An aware datetime.

    Raises:
        argparse.ArgumentTypeError: not an ISO 8601 date.

    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date and time, e.g. 2026-01-01T00:00:00+00:00"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def seconds(text: str) -> float:
    """A positive number of seconds.

    Args:
        text: the flag's value.

    Returns:
        The number.

    Raises:
        argparse.ArgumentTypeError: not a positive number.

    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A flag type: an integer of at least ``minimum``.

    Args:
        minimum: the smallest value accepted.

    Returns:
        The parser, raising ``argparse.ArgumentTypeError`` for anything else.

    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


#: A count of at least 1.
positive_int = int_at_least(1)
#: A map index: at least 0.
non_negative_int = int_at_least(0)
