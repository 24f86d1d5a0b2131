"""The suite's two forms: the short one (CI's, the default) and ``TEST_SCALE=long``.

The long form runs the scale-heavy tests at their full size (the chaos workload, the mapping
example on PostgreSQL, the many deferred timers); the short form keeps the suite within CI's
time budget and tests the same behaviour at a smaller size.
"""

from __future__ import annotations

import os

SCALES = ("short", "long")


def test_scale() -> str:
    """``short`` or ``long``, from ``TEST_SCALE``.

    Raises:
        ValueError: ``TEST_SCALE`` names neither.

    """
    wanted = os.environ.get("TEST_SCALE", "short")
    if wanted not in SCALES:
        raise ValueError(f"TEST_SCALE must be one of {', '.join(SCALES)}, not {wanted!r}")
    return wanted


def long_form() -> bool:
    """Whether the long form was asked for."""
    return test_scale() == "long"
