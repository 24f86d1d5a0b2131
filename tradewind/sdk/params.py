"""DAG params: named run arguments with defaults that a run's conf overrides.

A param is a plain value (its default) or a ``Param(default, description=..., **schema)``
whose schema is checked with a subset of JSON Schema: ``type``, ``enum``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tradewind.sdk.exceptions import TradewindException
from tradewind.sdk.xcom_arg import ResolveMixin

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class ParamValidationError(TradewindException, ValueError):
    """A param's value does not match its schema."""


class _NoDefault:
    def __repr__(self) -> str:
        return "NOTSET"


#: The default of a Param that has none: a run must then supply a value.
NOTSET: Any = _NoDefault()


class Param:
    """A DAG param with a default and an optional JSON Schema subset.

    Args:
        default: the value used when the run's conf does not give one.
        description: shown to people triggering the DAG.
        **schema: JSON Schema keywords, e.g. ``type="integer", minimum=1``.

    """

    def __init__(self, default: Any = NOTSET, description: str | None = None, **schema: Any):
        self.value = default
        self.description = description
        self.schema = schema
        if default is not NOTSET:
            self.validate(default, name="default")

    def __repr__(self) -> str:
        return f"Param({self.value!r}, description={self.description!r}, schema={self.schema!r})"

    @property
    def has_value(self) -> bool:
        """Whether the param has a default."""
        return self.value is not NOTSET

    def validate(self, value: Any, *, name: str = "value") -> Any:
        """Check ``value`` against the schema.

        Args:
            value: the value to check.
            name: how to call the value in the error message.

        Returns:
            The value, unchanged.

        Raises:
            ParamValidationError: when it does not match.

        """
        kinds = self.schema.get("type")
        if kinds is not None:
            names = [kinds] if isinstance(kinds, str) else list(kinds)
            if not any(_is_json_type(value, kind) for kind in names):
                raise ParamValidationError(f"{name} {value!r} is not of type {kinds!r}")
        enum = self.schema.get("enum")
        if enum is not None and value not in enum:
            raise ParamValidationError(f"{name} {value!r} is not one of {enum!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in self.schema and value < self.schema["minimum"]:
                raise ParamValidationError(f"{name} {value!r} is less than the minimum")
            if "maximum" in self.schema and value > self.schema["maximum"]:
                raise ParamValidationError(f"{name} {value!r} is more than the maximum")
        if isinstance(value, str):
            if len(value) < self.schema.get("minLength", 0):
                raise ParamValidationError(f"{name} {value!r} is shorter than minLength")
            if "maxLength" in self.schema and len(value) > self.schema["maxLength"]:
                raise ParamValidationError(f"{name} {value!r} is longer than maxLength")
        return value


def param_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """The default value of each param (None for a ``Param`` without default).

    Args:
        params: plain values and ``Param`` objects by name.

    Returns:
        The defaults by name.

    """
    return {
        name: (param.value if param.has_value else None) if isinstance(param, Param) else param
        for name, param in params.items()
    }


def resolve_params(params: Mapping[str, Any], conf: Mapping[str, Any]) -> dict[str, Any]:
    """The params a run sees: defaults, overridden by the run's conf, checked by their schema.

    Args:
        params: the DAG's (and task's) params.
        conf: the run's conf.

    Returns:
        The values by name; conf keys that are not params are included too, as in Airflow.

    Raises:
        ParamValidationError: when a value breaks its schema or a required param is missing.

    """
    resolved = param_defaults(params)
    resolved.update(conf)
    for name, param in params.items():
        if not isinstance(param, Param):
            continue
        if name not in conf and not param.has_value:
            raise ParamValidationError(f"param {name!r} has no default and no value was given")
        param.validate(resolved[name], name=f"param {name!r}")
    return resolved


def params_json(params: Mapping[str, Any]) -> str:
    """The params' defaults as a canonical JSON object.

    Args:
        params: the params.

    Returns:
        Compact JSON with sorted keys.

    Raises:
        TypeError: when a default cannot be written as JSON.

    """
    return json.dumps(param_defaults(params), sort_keys=True, separators=(",", ":"))


def _is_json_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


class DagParam(ResolveMixin):
    """A reference to a DAG param, resolved from the run's params when a task runs.

    ``@dag`` passes one for each parameter of the decorated function, as Airflow does.
    """

    def __init__(self, name: str, default: Any = NOTSET) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The param's value in the running task's context.

        Args:
            context: the running task's context.

        Returns:
            ``params[name]``, or the default.

        """
        params = context.get("params", {})
        if self.name in params:
            return params[self.name]
        if self.default is NOTSET:
            raise ParamValidationError(f"param {self.name!r} has no value")
        return self.default
