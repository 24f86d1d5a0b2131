"""Figures from the state service's own records of each try (never from guesses)."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from protos.run.v1 import message_pb2 as run_pb2


def when(message: object, field: str) -> datetime | None:
    """An aware datetime from a Timestamp field, None when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    return getattr(message, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TryTimes:
    """When one try started (its process) and ended."""

    task_id: str
    start: datetime
    end: datetime
    #: When the scheduler queued the task instance for this try (None when unknown).
    queued: datetime | None = None


def try_times(tries: Sequence[run_pb2.TaskInstanceTry]) -> dict[str, TryTimes]:
    """The last try of each task, with its process start (or lease time) and end."""
    result = {}
    for attempt in tries:
        start = when(attempt, "process_started_at") or when(attempt, "start_date")
        end = when(attempt, "end_date")
        if start is not None and end is not None:
            result[attempt.key.task_id] = TryTimes(
                attempt.key.task_id, start, end, when(attempt, "queued_at")
            )
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def chain_hops(times: dict[str, TryTimes], order: Sequence[str]) -> list[float]:
    """Seconds from each task's end to the next task's start, along a chain."""
    return [
        (times[nxt].start - times[prev].end).total_seconds()
        for prev, nxt in itertools.pairwise(order)
        if prev in times and nxt in times
    ]


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def chain_queue_delays(times: dict[str, TryTimes], order: Sequence[str]) -> list[float]:
    """Seconds from each task's end to the next task being queued (the scheduler's share)."""
    return [
        (queued - times[prev].end).total_seconds()
        for prev, nxt in itertools.pairwise(order)
        if prev in times and nxt in times and (queued := times[nxt].queued) is not None
    ]
