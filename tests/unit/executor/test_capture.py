"""Log capture: classifying lines, and shipping them in numbered, resendable chunks."""

from __future__ import annotations

from datetime import UTC, datetime

from executor.capture import CHUNK_LINES, LOGGING_MARK, MAX_LINE, TryLog, classify
from protos.enums.v1 import log_pb2
from protos.run.v1 import message_pb2 as run_pb2

STDOUT = log_pb2.LOG_STREAM_STDOUT
STDERR = log_pb2.LOG_STREAM_STDERR
LOGGING = log_pb2.LOG_STREAM_LOGGING
LEASE = run_pb2.TryLease(
    key=run_pb2.TaskInstanceKey(dag_id="d", run_id="r", task_id="t"), try_number=2, lease_id="L"
)


def test_plain_lines_keep_their_stream() -> None:
    assert classify(STDOUT, "hello") == (STDOUT, "", "hello")
    assert classify(STDERR, "oops") == (STDERR, "", "oops")


def test_marked_lines_are_logging_records_with_their_level() -> None:
    line = f"{LOGGING_MARK}WARNING{LOGGING_MARK}task: disk {LOGGING_MARK} almost full"
    assert classify(STDERR, line) == (LOGGING, "WARNING", f"task: disk {LOGGING_MARK} almost full")


def test_a_truncated_mark_gives_an_empty_message_rather_than_failing() -> None:
    assert classify(STDERR, f"{LOGGING_MARK}INFO") == (LOGGING, "INFO", "")
    assert classify(STDERR, LOGGING_MARK) == (LOGGING, "", "")


def test_a_mark_inside_a_line_is_plain_output() -> None:
    line = f"say {LOGGING_MARK}INFO{LOGGING_MARK}x"
    assert classify(STDOUT, line) == (STDOUT, "", line)


def test_added_lines_lose_their_newline_and_are_cut_at_the_limit() -> None:
    log = TryLog(lease=LEASE)
    at = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    log.add(STDOUT, "first\n", at=at)
    log.add(STDOUT, "x" * (MAX_LINE + 10) + "\n")
    log.add(STDERR, f"{LOGGING_MARK}ERROR{LOGGING_MARK}boom\n")
    first, long, logged = log.pending
    assert (first.stream, first.message, first.level) == (STDOUT, "first", "")
    assert first.timestamp.ToDatetime(tzinfo=UTC) == at
    assert long.message == "x" * MAX_LINE
    assert (logged.stream, logged.level, logged.message) == (LOGGING, "ERROR", "boom")


def test_system_lines_are_marked_as_tradewinds_own() -> None:
    log = TryLog(lease=LEASE)
    log.system("execution_timeout exceeded")
    (line,) = log.pending
    assert (line.stream, line.message) == (log_pb2.LOG_STREAM_SYSTEM, "execution_timeout exceeded")


def test_chunks_are_numbered_from_one_and_carry_the_lease() -> None:
    log = TryLog(lease=LEASE)
    assert log.next_chunk() is None
    assert log.drained
    log.add(STDOUT, "a")
    chunk = log.next_chunk()
    assert chunk is not None
    assert (chunk.chunk_index, chunk.lease, [line.message for line in chunk.lines]) == (
        1,
        LEASE,
        ["a"],
    )
    assert not log.drained
    log.acknowledge()
    assert log.drained
    log.add(STDOUT, "b")
    second = log.next_chunk()
    assert second is not None
    assert second.chunk_index == 2
    assert log.chunk_index == 2


def test_an_unacknowledged_chunk_is_resent_unchanged_and_new_lines_wait() -> None:
    log = TryLog(lease=LEASE)
    log.add(STDOUT, "a")
    sent = log.next_chunk()
    log.add(STDOUT, "b")
    again = log.next_chunk()
    assert again is sent
    assert [line.message for line in log.pending] == ["b"]
    log.acknowledge()
    following = log.next_chunk()
    assert following is not None
    assert (following.chunk_index, [line.message for line in following.lines]) == (2, ["b"])


def test_many_lines_are_split_into_chunks_of_at_most_chunk_lines() -> None:
    log = TryLog(lease=LEASE)
    total = 2 * CHUNK_LINES + 5
    for number in range(total):
        log.add(STDOUT, str(number))
    sizes = []
    shipped: list[str] = []
    while (chunk := log.next_chunk()) is not None:
        sizes.append(len(chunk.lines))
        shipped += [line.message for line in chunk.lines]
        log.acknowledge()
    assert sizes == [CHUNK_LINES, CHUNK_LINES, 5]
    assert shipped == [str(number) for number in range(total)]
    assert log.chunk_index == 3
    assert log.drained
