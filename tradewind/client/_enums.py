"""States and kinds as string enums with Airflow's names, and their proto counterparts.

``TaskInstanceState`` and ``TriggerRule`` are the SDK's own enums, so a state read from the
API compares equal to the one a DAG author uses. Proto enum values map by name:
``TASK_INSTANCE_STATE_UP_FOR_RETRY`` is ``TaskInstanceState.UP_FOR_RETRY`` ("up_for_retry").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from protos.enums.v1 import dag_run_pb2, log_pb2, task_instance_pb2
from tradewind.sdk.trigger_rules import TaskInstanceState, TriggerRule

E = TypeVar("E", bound=StrEnum)


class DagRunState(StrEnum):
    """The state of a DAG run, as in Airflow."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Whether the run has ended (success or failed)."""
        return self in (DagRunState.SUCCESS, DagRunState.FAILED)


class DagRunType(StrEnum):
    """Why a DAG run exists."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"


class TryOutcome(StrEnum):
    """How one try of a task instance ended."""

    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    FAILED_NO_RETRY = "failed_no_retry"
    TIMED_OUT = "timed_out"
    TERMINATED = "terminated"
    LEASE_EXPIRED = "lease_expired"
    STOPPED = "stopped"


class LogStream(StrEnum):
    """Where a captured log line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"
    #: A record of Python's logging module in the task process.
    LOGGING = "logging"
    #: A line Tradewind itself wrote (start, outcome, kill).
    SYSTEM = "system"


class ProtoEnum(Generic[E]):
    """Converts between a string enum and a proto enum whose value names share a prefix."""

    def __init__(self, enum: type[E], proto: Any, prefix: str) -> None:
        """Pair ``enum`` with the generated ``proto`` enum whose names start with ``prefix``."""
        self._enum = enum
        self._to_member: dict[int, E] = {}
        self._to_value: dict[E, int] = {}
        known = {member.value: member for member in enum}
        for name, value in proto.items():
            member = known.get(name.removeprefix(prefix).lower())
            if member is not None:  # a unit test holds that every non-zero value has one
                self._to_member[value] = member
                self._to_value[member] = value

    def from_proto(self, value: int) -> E | None:
        """The member for a proto value; None for ``_UNSPECIFIED``.

        Raises:
            ValueError: a value this client does not know (a newer server).

        """
        if value == 0:
            return None
        try:
            return self._to_member[value]
        except KeyError:
            raise ValueError(f"unknown {self._enum.__name__} value {value}") from None

    def member(self, value: int) -> E:
        """The member for a proto value that the contract requires to be set.

        Raises:
            ValueError: the value is ``_UNSPECIFIED`` or unknown.

        """
        member = self.from_proto(value)
        if member is None:
            raise ValueError(f"{self._enum.__name__} is unspecified")
        return member

    def to_proto(self, member: E | str) -> Any:
        """The proto value of a member (or of its string value).

        Raises:
            ValueError: ``member`` names no member of the enum.

        """
        return self._to_value[self._enum(member)]


TASK_INSTANCE_STATES = ProtoEnum(
    TaskInstanceState, task_instance_pb2.TaskInstanceState, "TASK_INSTANCE_STATE_"
)
TRIGGER_RULES = ProtoEnum(TriggerRule, task_instance_pb2.TriggerRule, "TRIGGER_RULE_")
TRY_OUTCOMES = ProtoEnum(TryOutcome, task_instance_pb2.TryOutcome, "TRY_OUTCOME_")
DAG_RUN_STATES = ProtoEnum(DagRunState, dag_run_pb2.DagRunState, "DAG_RUN_STATE_")
DAG_RUN_TYPES = ProtoEnum(DagRunType, dag_run_pb2.DagRunType, "DAG_RUN_TYPE_")
LOG_STREAMS = ProtoEnum(LogStream, log_pb2.LogStream, "LOG_STREAM_")

__all__ = [
    "DagRunState",
    "DagRunType",
    "LogStream",
    "ProtoEnum",
    "TaskInstanceState",
    "TriggerRule",
    "TryOutcome",
]
