"""The CLI's pure parts: argument types, connection URIs, progress lines, log lines."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime

import pytest

from tradewind.cli.arguments import date_time, json_object, positive_int, seconds
from tradewind.cli.conn_uri import connection_from_uri
from tradewind.cli.output import format_log_line
from tradewind.cli.progress import RunProgress, progress_line
from tradewind.client import (
    DagRun,
    DagRunState,
    DagRunType,
    LogLine,
    LogStream,
    TaskInstanceState,
)


def run_with(state: DagRunState, counts: dict[TaskInstanceState, int]) -> DagRun:
    return DagRun(
        dag_id="etl",
        run_id="r1",
        run_type=DagRunType.MANUAL,
        state=state,
        logical_date=None,
        data_interval_start=None,
        data_interval_end=None,
        conf={},
        queued_at=None,
        start_date=None,
        end_date=None,
        note="",
        task_counts=counts,
    )


def test_json_object_arguments() -> None:
    assert json_object('{"a": 1}') == {"a": 1}
    with pytest.raises(argparse.ArgumentTypeError, match="not valid JSON"):
        json_object("{a")
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be a JSON object.*not list"):
        json_object("[1]")
    with pytest.raises(argparse.ArgumentTypeError, match="not null"):
        json_object("null")


def test_dates_without_an_offset_are_utc() -> None:
    assert date_time("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert date_time("2026-01-01T02:00:00+02:00").utcoffset() is not None
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO 8601"):
        date_time("yesterday")


def test_numbers() -> None:
    assert seconds("1.5") == 1.5
    for bad in ("0", "-1", "inf", "nan", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            seconds(bad)
    assert positive_int("3") == 3
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int("0")


def test_a_connection_uri_as_airflow_reads_it() -> None:
    connection = connection_from_uri(
        "db", "postgresql://us%40er:p%40ss@db.example.com:5432/analytics?sslmode=require"
    )
    assert (connection.conn_type, connection.host, connection.port) == (
        "postgres",
        "db.example.com",
        5432,
    )
    assert (connection.login, connection.password, connection.schema) == (
        "us@er",
        "p@ss",
        "analytics",
    )
    assert connection.extra == {"sslmode": "require"}
    extra = connection_from_uri("h", 'http-x://host?__extra__={"a": [1]}')
    assert extra.conn_type == "http_x"
    assert extra.extra == {"a": [1]}
    assert extra.port is None
    assert connection_from_uri("s", "sqlite://").host == ""


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("no-scheme", "expected <type>://"),
        ("pg://h:notaport/db", "invalid port"),
        ("pg://h?__extra__=[1]", "must be a JSON object"),
        ("pg://h?__extra__={", "not valid JSON"),
    ],
)
def test_bad_connection_uris(uri: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        connection_from_uri("c", uri)


def test_a_progress_line_counts_task_instances_by_state_in_lifecycle_order() -> None:
    run = run_with(DagRunState.RUNNING, {TaskInstanceState.SUCCESS: 2, TaskInstanceState.QUEUED: 1})
    assert progress_line(run, 3.1) == "etl r1: running | 1 queued, 2 success [3.10s]"
    assert progress_line(run_with(DagRunState.QUEUED, {}), 0) == (
        "etl r1: queued | no task instances yet [0.00s]"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_writes_a_line_per_change_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = RunProgress(stream, clock=lambda: 0.0)
    progress.update(run_with(DagRunState.QUEUED, {}))
    progress.update(run_with(DagRunState.SUCCESS, {TaskInstanceState.SUCCESS: 1}))
    progress.close()
    assert stream.getvalue().splitlines()[-1] == "etl r1: success | 1 success [0.00s]"
    assert "\r" not in stream.getvalue()


def test_progress_redraws_one_line_on_a_terminal() -> None:
    stream = Terminal()
    progress = RunProgress(stream, clock=lambda: 0.0)
    progress.update(run_with(DagRunState.QUEUED, {}))
    progress.update(run_with(DagRunState.RUNNING, {}))
    progress.close()
    assert stream.getvalue().count("\r\x1b[K") == 2
    assert stream.getvalue().endswith("\n")
    assert stream.getvalue().count("\n") == 1


def test_a_progress_line_names_running_tasks_and_a_pause() -> None:
    run = run_with(DagRunState.RUNNING, {TaskInstanceState.RUNNING: 5})
    line = progress_line(run, 8, ["a", "b", "c", "d", "e"])
    assert line.endswith("[8.00s] running: a, b, c and 2 more")
    queued = progress_line(run_with(DagRunState.QUEUED, {}), 1, paused=True)
    assert queued.endswith("(the DAG is paused: waiting for an unpause)")


def test_off_a_terminal_a_quiet_wait_still_writes_a_line_every_ten_seconds() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = RunProgress(stream, clock=lambda: now[0])
    progress.update(run_with(DagRunState.RUNNING, {TaskInstanceState.RUNNING: 1}), ["load"])
    for second in range(1, 25):
        now[0] = float(second)
        progress.tick()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # the change, then one at 10 s and one at 20 s
    assert lines[-1] == "etl r1: running | 1 running [20.0s] running: load"


def test_on_a_terminal_every_tick_redraws_the_elapsed_time() -> None:
    stream = Terminal()
    now = [0.0]
    progress = RunProgress(stream, clock=lambda: now[0])
    progress.update(run_with(DagRunState.RUNNING, {}))
    now[0] = 1.5
    progress.tick()
    assert stream.getvalue().count("\r\x1b[K") == 2
    assert stream.getvalue().endswith("[1.50s]")


def test_log_lines_show_time_level_or_stream_and_message() -> None:
    when = datetime(2026, 1, 1, 0, 0, 1, 250000, tzinfo=UTC)
    logged = LogLine(
        sequence=1,
        try_number=1,
        timestamp=when,
        stream=LogStream.LOGGING,
        level="INFO",
        message="m",
    )
    assert format_log_line(logged) == "[2026-01-01 00:00:01.250] INFO - m"
    printed = LogLine(
        sequence=2, try_number=1, timestamp=None, stream=LogStream.STDOUT, level="", message="hi"
    )
    assert format_log_line(printed) == "[-] stdout - hi"
