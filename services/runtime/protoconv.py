"""Plain values from and to the contract's messages, shared by every service.

Protobuf timestamps and durations as aware UTC datetimes and seconds, and the retry settings
of a task definition as :class:`core.retries.RetryPolicy`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from core.retries import RetryPolicy
from protos.dag.v1 import message_pb2 as dag_pb2


def timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp for an aware datetime; None stays unset."""
    if value is None:
        return None
    result = Timestamp()
    result.FromDatetime(value.astimezone(UTC))
    return result


def stamp(value: datetime) -> Timestamp:
    """A Timestamp for an aware datetime."""
    result = Timestamp()
    result.FromDatetime(value.astimezone(UTC))
    return result


def duration(seconds: float) -> Duration:
    """A Duration of ``seconds``."""
    result = Duration()
    result.FromTimedelta(timedelta(seconds=seconds))
    return result


def optional_duration(seconds: float | None) -> Duration | None:
    """A Duration of ``seconds``; None stays unset."""
    return None if seconds is None else duration(seconds)


def to_datetime(message: object, field: str) -> datetime | None:
    """The aware UTC datetime in ``message.field``, or None when the field is unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    value: Timestamp = getattr(message, field)
    return value.ToDatetime(tzinfo=UTC)


def to_seconds(message: object, field: str) -> float | None:
    """The seconds in the Duration ``message.field``, or None when the field is unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    value: Duration = getattr(message, field)
    return value.ToTimedelta().total_seconds()


def retry_policy(task: dag_pb2.TaskDefinition) -> RetryPolicy:
    """The retry settings of a task definition."""
    return RetryPolicy(
        retry_delay=task.retry_delay.ToTimedelta().total_seconds(),
        exponential_backoff=task.retry_exponential_backoff,
        max_retry_delay=to_seconds(task, "max_retry_delay"),
    )
