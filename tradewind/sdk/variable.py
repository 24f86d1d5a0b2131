"""Variables: named settings stored by Tradewind, read and written through the task runtime."""

from __future__ import annotations

import json
from typing import Any

from tradewind.sdk.exceptions import VariableNotFound
from tradewind.sdk.params import NOTSET
from tradewind.sdk.runtime import current_runtime


class Variable:
    """Airflow's ``Variable`` API: ``Variable.get``, ``Variable.set``, ``Variable.delete``."""

    @staticmethod
    def get(
        key: str,
        default_var: Any = NOTSET,
        deserialize_json: bool = False,
        *,
        default: Any = NOTSET,
    ) -> Any:
        """Read a Variable.

        Args:
            key: the Variable's key.
            default_var: returned when the Variable does not exist (Airflow 2's name).
            deserialize_json: parse the stored text as JSON.
            default: the same as ``default_var`` (Airflow 3's name).

        Returns:
            The stored text, or its JSON value with ``deserialize_json``.

        Raises:
            VariableNotFound: (a KeyError) when it does not exist and no default was given.

        """
        fallback = default_var if default_var is not NOTSET else default
        value = current_runtime().get_variable(key)
        if value is None:
            if fallback is NOTSET:
                raise VariableNotFound(f"Variable {key} does not exist")
            return fallback
        return json.loads(value) if deserialize_json else value

    @staticmethod
    def set(
        key: str, value: Any, description: str | None = None, serialize_json: bool = False
    ) -> None:
        """Create or replace a Variable.

        Args:
            key: the Variable's key.
            value: the value; stored as ``str(value)``, or as JSON with ``serialize_json``.
            description: an optional description.
            serialize_json: store ``value`` as JSON text.

        """
        text = json.dumps(value, indent=2) if serialize_json else str(value)
        current_runtime().set_variable(key, text, description=description)

    @staticmethod
    def delete(key: str) -> None:
        """Delete a Variable (no error when it does not exist).

        Args:
            key: the Variable's key.

        """
        current_runtime().delete_variable(key)
