"""Protobuf enum values as lower-case short names ("queued"), both ways, for every service."""

from __future__ import annotations

from typing import Any


class EnumNames:
    """Two-way mapping between one enum's values and their short names.

    ``EnumNames(TaskInstanceState, "TASK_INSTANCE_STATE_")`` maps
    ``TASK_INSTANCE_STATE_QUEUED`` to ``"queued"``; the ``*_UNSPECIFIED`` value has no name.
    """

    def __init__(self, enum: Any, prefix: str) -> None:
        self._to_name: dict[int, str] = {}
        self._to_value: dict[str, int] = {}
        for name, value in enum.items():
            if value == 0:
                continue
            short = name.removeprefix(prefix).lower()
            self._to_name[value] = short
            self._to_value[short] = value

    def name(self, value: int) -> str:
        """The short name of ``value``; KeyError for UNSPECIFIED or an unknown value."""
        return self._to_name[value]

    def name_or(self, value: int, default: str) -> str:
        """The short name of ``value``, or ``default`` for UNSPECIFIED or an unknown value."""
        return self._to_name.get(value, default)

    def value(self, name: str) -> Any:
        """The enum value of a short name (typed Any: it fits the enum's ValueType)."""
        return self._to_value[name]

    def __contains__(self, value: object) -> bool:
        return value in self._to_name
