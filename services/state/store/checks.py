"""What makes a value well formed, for the checks of requests and of the store alike."""

from __future__ import annotations

import json
import re

MAX_ID_LENGTH = 250
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def identifier_problem(value: str) -> str | None:
    """What is wrong with an id (empty, longer than 250 characters, control characters)."""
    if not value:
        return "is required"
    if len(value) > MAX_ID_LENGTH:
        return f"is longer than {MAX_ID_LENGTH} characters"
    if CONTROL_CHARACTERS.search(value):
        return "contains control characters"
    return None


def json_object_problem(text: str) -> str | None:
    """What keeps ``text`` from being a JSON object, or None."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as err:
        return f"is not valid JSON ({err})"
    return None if isinstance(parsed, dict) else "must be a JSON object"
