"""Checks of request fields; each failure is an INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import json
from collections.abc import Collection
from enum import StrEnum
from typing import Any, TypeVar

from core.partitions import partition_key_problem
from core.proto_enums import ProtoEnum
from services.runtime.errors import InvalidArgument
from services.state.store.checks import identifier_problem

E = TypeVar("E", bound=StrEnum)


def identifier(value: str, field: str) -> str:
    """A non-empty id of at most 250 characters without control characters."""
    problem = identifier_problem(value)
    if problem is not None:
        raise InvalidArgument(field, problem)
    return value


def optional_identifier(value: str, field: str) -> str:
    """An id as in :func:`identifier`, or the empty string."""
    return identifier(value, field) if value else value


def check_partition_key(key: str, field: str) -> str:
    """A partition key (see :func:`core.partitions.partition_key_problem`)."""
    if (problem := partition_key_problem(key)) is not None:
        raise InvalidArgument(field, problem)
    return key


def json_object(text: str, field: str) -> str:
    """A JSON object as text; the empty string means ``{}``."""
    if not text:
        return "{}"
    parsed = json_value(text, field)
    if not isinstance(parsed, dict):
        raise InvalidArgument(field, "must be a JSON object")
    return text


def json_value(text: str, field: str) -> Any:
    """Any JSON value, parsed."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise InvalidArgument(field, f"is not valid JSON ({err})") from err


def enum_name(value: int, names: ProtoEnum[E], field: str, allowed: Collection[str] = ()) -> E:
    """The member of an enum value, refusing UNSPECIFIED and values outside ``allowed``."""
    if value not in names:
        raise InvalidArgument(field, "must be set to a known value")
    name = names.member(value)
    if allowed and name not in allowed:
        raise InvalidArgument(field, f"must be one of {', '.join(sorted(allowed))}")
    return name


def positive_seconds(seconds: float | None, field: str) -> float:
    """A duration that must be set and positive."""
    if seconds is None or seconds <= 0:
        raise InvalidArgument(field, "must be a positive duration")
    return seconds


def non_negative(value: int, field: str) -> int:
    """A count that must not be negative."""
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return value


def map_index_of(key: Any, field: str) -> int:
    """A task instance key's map index: -1 when absent, else a map index from 0."""
    if not key.HasField("map_index"):
        return -1
    if key.map_index < 0:
        raise InvalidArgument(
            field, "must be 0 or more; leave it unset for a task that is not mapped"
        )
    return int(key.map_index)


def optional_map_index(message: Any, field: str, name: str = "map_index") -> int | None:
    """An optional map index filter: None when unset, -1 for unmapped tasks, or an index."""
    if not message.HasField(name):
        return None
    value = int(getattr(message, name))
    if value < -1:
        raise InvalidArgument(field, "must be -1 (tasks that are not mapped) or a map index")
    return value
