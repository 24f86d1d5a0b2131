"""JSON for what crosses processes between a task and its trigger: kwargs, events, next_kwargs.

Plain JSON values pass as they are; datetimes, dates, timedeltas, tuples and sets are tagged so
that they come back as themselves (a ``DateTimeTrigger``'s moment, an event's timestamp).
Anything else is refused with the path to the value, so a trigger that cannot be stored fails
where it is deferred, not later in the triggerer.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pendulum

_TAG = "__tradewind_type__"


def dumps(value: Any) -> str:
    """``value`` as JSON text.

    Raises:
        TypeError: for a value of a type that cannot be stored.

    """
    return json.dumps(_encode(value, "value"), separators=(",", ":"))


def loads(text: str) -> Any:
    """A value written by :func:`dumps` (plain JSON reads as itself)."""
    return _decode(json.loads(text)) if text else None


def _encode(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "value": value.total_seconds()}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "value": [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, set | frozenset):
        items = sorted(value, key=repr)
        return {_TAG: "set", "value": [_encode(v, f"{path}[{i}]") for i, v in enumerate(items)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{path} has a key {key!r} that is not a string")
        encoded = {k: _encode(v, f"{path}[{k!r}]") for k, v in value.items()}
        return {_TAG: "dict", "value": encoded} if _TAG in value else encoded
    raise TypeError(
        f"{path} is a {type(value).__name__}, which cannot be stored with a trigger"
        " (use JSON values, datetimes, timedeltas, tuples or sets)"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(_TAG)
    if kind is None:
        return {k: _decode(v) for k, v in value.items()}
    raw: Any = value["value"]
    if kind == "datetime":
        moment = datetime.fromisoformat(raw)
        return pendulum.instance(moment) if moment.tzinfo is not None else moment
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "timedelta":
        return timedelta(seconds=raw)
    if kind == "tuple":
        return tuple(_decode(v) for v in raw)
    if kind == "set":
        return {_decode(v) for v in raw}
    if kind == "dict":
        return {k: _decode(v) for k, v in raw.items()}
    raise ValueError(f"unknown stored type {kind!r}")
