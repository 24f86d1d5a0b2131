"""States and kinds as string enums with Airflow's names, and their proto counterparts.

The states, outcomes and trigger rules are the state machine's own (:mod:`core.states`), so a
state read from the API compares equal to the one a DAG author uses. Proto enum values map by
name: ``TASK_INSTANCE_STATE_UP_FOR_RETRY`` is ``TaskInstanceState.UP_FOR_RETRY``.
"""

from __future__ import annotations

from enum import StrEnum

from core.proto_enums import (
    DAG_RUN_STATES,
    DAG_RUN_TYPES,
    TASK_INSTANCE_STATES,
    TRIGGER_RULES,
    TRY_OUTCOMES,
    ProtoEnum,
)
from core.states import DagRunState, DagRunType, TaskInstanceState, TryOutcome
from core.trigger_rules import TriggerRule
from protos.enums.v1 import log_pb2


class LogStream(StrEnum):
    """Where a captured log line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"
    #: A record of Python's logging module in the task process.
    LOGGING = "logging"
    #: A line Tradewind itself wrote (start, outcome, kill).
    SYSTEM = "system"


LOG_STREAMS = ProtoEnum(LogStream, log_pb2.LogStream, "LOG_STREAM_")

__all__ = [
    "DAG_RUN_STATES",
    "DAG_RUN_TYPES",
    "LOG_STREAMS",
    "TASK_INSTANCE_STATES",
    "TRIGGER_RULES",
    "TRY_OUTCOMES",
    "DagRunState",
    "DagRunType",
    "LogStream",
    "ProtoEnum",
    "TaskInstanceState",
    "TriggerRule",
    "TryOutcome",
]
