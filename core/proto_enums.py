"""One mapping between the state machine's string enums and the contract's proto enums.

Proto enum values map by name: ``TASK_INSTANCE_STATE_UP_FOR_RETRY`` is
``TaskInstanceState.UP_FOR_RETRY`` ("up_for_retry"); ``*_UNSPECIFIED`` (0) has no member.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from core.states import DagRunState, DagRunType, TaskInstanceState, TryOutcome
from core.trigger_rules import TriggerRule
from protos.enums.v1 import dag_run_pb2, task_instance_pb2

E = TypeVar("E", bound=StrEnum)


class ProtoEnum(Generic[E]):
    """Converts between a string enum and a proto enum whose value names share a prefix."""

    def __init__(self, enum: type[E], proto: Any, prefix: str) -> None:
        """Pair ``enum`` with the generated ``proto`` enum whose names start with ``prefix``."""
        self._enum = enum
        self._to_member: dict[int, E] = {}
        self._to_value: dict[str, int] = {}
        known = {member.value: member for member in enum}
        for name, value in proto.items():
            member = known.get(name.removeprefix(prefix).lower())
            if member is not None:  # a unit test holds that every non-zero value has one
                self._to_member[value] = member
                self._to_value[member.value] = value

    def from_proto(self, value: int) -> E | None:
        """The member for a proto value; None for ``_UNSPECIFIED``.

        Raises:
            ValueError: a value this side does not know (a newer peer).

        """
        if value == 0:
            return None
        try:
            return self._to_member[value]
        except KeyError:
            raise ValueError(f"unknown {self._enum.__name__} value {value}") from None

    def member(self, value: int) -> E:
        """The member for a proto value that must be set.

        Raises:
            ValueError: the value is ``_UNSPECIFIED`` or unknown.

        """
        member = self.from_proto(value)
        if member is None:
            raise ValueError(f"{self._enum.__name__} is unspecified")
        return member

    def member_or(self, value: int, default: E) -> E:
        """The member for a proto value, or ``default`` for ``_UNSPECIFIED`` or unknown."""
        return self._to_member.get(value, default)

    def to_proto(self, member: E | str) -> Any:
        """The proto value of a member (or of its string value); typed Any to fit any field.

        Raises:
            ValueError: ``member`` names no member of the enum.

        """
        return self._to_value[self._enum(member).value]

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` is a proto value with a member (not ``_UNSPECIFIED``)."""
        return value in self._to_member


TASK_INSTANCE_STATES = ProtoEnum(
    TaskInstanceState, task_instance_pb2.TaskInstanceState, "TASK_INSTANCE_STATE_"
)
TRY_OUTCOMES = ProtoEnum(TryOutcome, task_instance_pb2.TryOutcome, "TRY_OUTCOME_")
TRIGGER_RULES = ProtoEnum(TriggerRule, task_instance_pb2.TriggerRule, "TRIGGER_RULE_")
DAG_RUN_STATES = ProtoEnum(DagRunState, dag_run_pb2.DagRunState, "DAG_RUN_STATE_")
DAG_RUN_TYPES = ProtoEnum(DagRunType, dag_run_pb2.DagRunType, "DAG_RUN_TYPE_")
