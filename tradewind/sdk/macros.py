"""The ``macros`` of templates: Airflow's date helpers and a few standard modules.

``{{ macros.ds_add(ds, 7) }}``, ``{{ macros.datetime(2024, 1, 1) }}``,
``{{ macros.timedelta(days=1) }}``, ``{{ macros.json.dumps(params) }}``.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import datetime, timedelta

__all__ = ["datetime", "ds_add", "ds_format", "json", "random", "time", "timedelta", "uuid"]


def ds_add(ds: str, days: int) -> str:
    """Add or subtract days to a YYYY-MM-DD date.

    Args:
        ds: the date, e.g. "2015-01-01".
        days: how many days to add (negative to subtract).

    Returns:
        The new date, e.g. ``ds_add("2015-01-01", 5)`` is "2015-01-06".

    """
    if not days:
        return ds
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Reformat a date string.

    Args:
        ds: the date.
        input_format: its strptime format, e.g. "%Y-%m-%d".
        output_format: the wanted strftime format, e.g. "%m-%d-%y".

    Returns:
        The reformatted date.

    """
    return datetime.strptime(ds, input_format).strftime(output_format)
