"""Deferral's pure rules: where a deferred try resumes, when its trigger times out, shares.

A task that defers names a method to resume in and its keyword arguments; the trigger's event
joins them as ``event`` (Airflow's rule). A trigger that fails or times out resumes the task in
the ``__fail__`` method instead, which raises in the task process, so the task's own failure
rules (retries, soft_fail) apply.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

#: The method a task resumes in when its trigger failed or timed out (Airflow's name).
TRIGGER_FAIL_METHOD = "__fail__"


class TriggerFailureReason(StrEnum):
    """Why a task resumes in ``__fail__`` (Airflow's values)."""

    TRIGGER_TIMEOUT = "Trigger timeout"
    TRIGGER_FAILURE = "Trigger failure"


def resumed_kwargs(next_kwargs_json: str, event_payload_json: str) -> str:
    """The resume method's keyword arguments: the deferral's, with ``event`` set to the payload.

    Both are JSON text; the payload stays encoded as the triggerer encoded it.
    """
    kwargs = _object(next_kwargs_json)
    kwargs["event"] = json.loads(event_payload_json) if event_payload_json else None
    return json.dumps(kwargs)


def failure_kwargs(reason: TriggerFailureReason, message: str = "", traceback: str = "") -> str:
    """The ``__fail__`` method's keyword arguments for a failed or timed-out trigger."""
    kwargs: dict[str, Any] = {"error": reason.value}
    if message:
        kwargs["message"] = message
    if traceback:
        kwargs["traceback"] = traceback.splitlines()
    return json.dumps(kwargs)


def trigger_timeout_at(
    now: datetime,
    timeout: timedelta | None,
    try_started_at: datetime | None,
    execution_timeout: timedelta | None,
) -> datetime | None:
    """When a deferral times out: its own timeout, or the task's execution_timeout if sooner.

    Airflow counts execution_timeout over the try's whole runtime, deferrals included, so a
    task deferred past it fails even if its trigger has no timeout.
    """
    moments = []
    if timeout is not None:
        moments.append(now + timeout)
    if execution_timeout is not None and try_started_at is not None:
        moments.append(try_started_at + execution_timeout)
    return min(moments) if moments else None


def fair_share(pending: int, live_replicas: int, capacity: int) -> int:
    """How many triggers one replica should hold: an even split, within its capacity."""
    return min(capacity, max(1, math.ceil(pending / max(1, live_replicas))))


def _object(text: str) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("next_kwargs must be a JSON object")
    return value
