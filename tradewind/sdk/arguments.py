"""Checks and conversions of DAG and task arguments, failing with a ``DagDefinitionError``.

One ``ArgumentChecker`` is bound to the DAG and task being built, so that every error names
them without each check having to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tradewind.sdk.exceptions import DagDefinitionError

#: What DAG ids, task ids and task group ids may contain (as in Airflow).
ID_PATTERN = re.compile(r"^[\w.-]+$")
#: The longest id accepted (as in Airflow).
MAX_ID_LENGTH = 250
#: The bounds of the contract's int32 fields.
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

#: One callback or a list of them, as Airflow accepts.
Callback = Callable[[Any], Any]


@dataclass(frozen=True)
class ArgumentChecker:
    """Validates arguments of one DAG or task; errors name ``dag_id`` and ``task_id``."""

    dag_id: str | None = None
    task_id: str | None = None

    def fail(self, problem: str) -> DagDefinitionError:
        """The error to raise for ``problem``.

        Args:
            problem: what is wrong.

        Returns:
            A DagDefinitionError naming this checker's DAG and task.

        """
        return DagDefinitionError(problem, dag_id=self.dag_id, task_id=self.task_id)

    def identifier(self, name: str, value: object) -> str:
        """Check a DAG, task or group id.

        Args:
            name: the argument's name, for the message.
            value: the value given.

        Returns:
            The id.

        """
        if not isinstance(value, str):
            raise self.fail(f"{name} must be a str, got {_kind(value)}")
        if len(value) > MAX_ID_LENGTH:
            raise self.fail(f"{name} {value!r} is longer than {MAX_ID_LENGTH} characters")
        if not ID_PATTERN.match(value):
            raise self.fail(
                f"{name} {value!r} must be made of letters, digits, dashes, dots and underscores"
            )
        return value

    def integer(
        self, name: str, value: object, *, minimum: int = INT32_MIN, maximum: int = INT32_MAX
    ) -> int:
        """Check an integer argument (bools are refused).

        Args:
            name: the argument's name.
            value: the value given.
            minimum: the smallest value accepted.
            maximum: the largest value accepted.

        Returns:
            The integer.

        """
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{name} must be an int, got {_kind(value)}")
        if not minimum <= value <= maximum:
            bound = f"at least {minimum}" if value < minimum else f"at most {maximum}"
            raise self.fail(f"{name} must be {bound}, got {value}")
        return value

    def boolean(self, name: str, value: object) -> bool:
        """Check a bool argument.

        Args:
            name: the argument's name.
            value: the value given.

        Returns:
            The bool.

        """
        if not isinstance(value, bool):
            raise self.fail(f"{name} must be a bool, got {_kind(value)}")
        return value

    def text(self, name: str, value: object, *, optional: bool = False) -> str | None:
        """Check a str argument.

        Args:
            name: the argument's name.
            value: the value given.
            optional: whether None is accepted.

        Returns:
            The text, or None when optional and not given.

        """
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{name} must be a str, got {_kind(value)}")
        return value

    def non_empty_text(self, name: str, value: object) -> str:
        """Check a str argument that must not be empty.

        Args:
            name: the argument's name.
            value: the value given.

        Returns:
            The text.

        """
        checked = self.text(name, value)
        if not checked:
            raise self.fail(f"{name} must not be empty")
        return checked

    def duration(
        self, name: str, value: object, *, optional: bool = False, numbers: bool = True
    ) -> timedelta | None:
        """Check a duration: a ``timedelta``, or a number of seconds when ``numbers``.

        Args:
            name: the argument's name.
            value: the value given.
            optional: whether None is accepted.
            numbers: whether an int or float of seconds is accepted.

        Returns:
            The duration, or None when optional and not given.

        """
        if value is None and optional:
            return None
        if isinstance(value, timedelta):
            result = value
        elif numbers and isinstance(value, int | float) and not isinstance(value, bool):
            result = timedelta(seconds=value)
        else:
            accepted = "a timedelta or a number of seconds" if numbers else "a timedelta"
            raise self.fail(f"{name} must be {accepted}, got {_kind(value)}")
        if result < timedelta(0):
            raise self.fail(f"{name} must not be negative, got {result}")
        return result

    def aware_datetime(self, name: str, value: object) -> datetime | None:
        """Check a date argument; a naive datetime is taken as UTC.

        Args:
            name: the argument's name.
            value: the value given, or None.

        Returns:
            A timezone-aware datetime, or None.

        """
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise self.fail(f"{name} must be a datetime, got {_kind(value)}")
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def callbacks(self, name: str, value: object) -> tuple[Callback, ...]:
        """Check a callback argument: None, a callable, or a list of callables.

        Args:
            name: the argument's name.
            value: the value given.

        Returns:
            The callbacks, possibly none.

        """
        if value is None:
            return ()
        items: Sequence[object] = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if not callable(item):
                raise self.fail(f"{name} must be a callable or a list of callables")
        return tuple(items)  # type: ignore[arg-type]

    def choice(self, name: str, value: object, choices: Sequence[str]) -> str:
        """Check that a str argument is one of ``choices``.

        Args:
            name: the argument's name.
            value: the value given.
            choices: the accepted values.

        Returns:
            The value, as a plain str.

        """
        if not isinstance(value, str) or str(value) not in choices:
            raise self.fail(
                f"{name} must be one of {', '.join(repr(str(c)) for c in choices)}, got {value!r}"
            )
        return str(value)


def _kind(value: object) -> str:
    return f"{type(value).__name__} ({value!r})"
