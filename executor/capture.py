"""Capturing a task process's output as timestamped log lines, shipped in numbered chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.enums.v1 import log_pb2
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.run.v1 import message_pb2 as run_pb2

#: Task processes mark lines that came from Python's logging module with this prefix:
#: ``\x1fLEVEL\x1fmessage``.
LOGGING_MARK = "\x1f"
#: Lines per chunk at most.
CHUNK_LINES = 1000
#: Characters per line at most (longer lines are cut).
MAX_LINE = 64 * 1024


def classify(stream: int, text: str) -> tuple[int, str, str]:
    """The (stream, level, message) of one captured line."""
    if text.startswith(LOGGING_MARK):
        _, level, message = [*text.split(LOGGING_MARK, 2), "", ""][:3]
        return log_pb2.LOG_STREAM_LOGGING, level, message
    return stream, "", text


@dataclass
class TryLog:
    """The log of one running try: lines not yet shipped, and the chunk numbering."""

    lease: run_pb2.TryLease
    pending: list[run_pb2.LogLine] = field(default_factory=list)
    #: The last chunk handed out; chunks count from 1.
    chunk_index: int = 0
    #: A chunk handed out but not yet acknowledged (resent as it is).
    unacknowledged: executor_pb2.TryLogChunk | None = None

    def add(self, stream: int, text: str, *, at: datetime | None = None) -> None:
        """Record one line of output."""
        kind, level, message = classify(stream, text.rstrip("\n")[:MAX_LINE])
        stamp = Timestamp()
        stamp.FromDatetime(at or datetime.now(UTC))
        line = run_pb2.LogLine(timestamp=stamp, level=level, message=message)
        line.stream = kind  # type: ignore[assignment]
        self.pending.append(line)

    def system(self, message: str) -> None:
        """Record a line written by Tradewind itself."""
        self.add(log_pb2.LOG_STREAM_SYSTEM, message)

    def next_chunk(self) -> executor_pb2.TryLogChunk | None:
        """The chunk to send now: the unacknowledged one again, or a new one of pending lines."""
        if self.unacknowledged is not None:
            return self.unacknowledged
        if not self.pending:
            return None
        lines, self.pending = self.pending[:CHUNK_LINES], self.pending[CHUNK_LINES:]
        self.chunk_index += 1
        self.unacknowledged = executor_pb2.TryLogChunk(
            lease=self.lease, lines=lines, chunk_index=self.chunk_index
        )
        return self.unacknowledged

    def acknowledge(self) -> None:
        """The last chunk handed out was stored."""
        self.unacknowledged = None

    @property
    def drained(self) -> bool:
        """Whether every line has been shipped."""
        return self.unacknowledged is None and not self.pending
