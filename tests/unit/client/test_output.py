"""Tables and JSON as the CLI prints them."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tradewind.cli.output import (
    Column,
    format_cell,
    format_duration,
    print_record,
    print_records,
    render_fields,
    render_table,
    to_jsonable,
)
from tradewind.client import DagRun, DagRunState, DagRunType, TaskInstanceState, Variable

RUN = DagRun(
    dag_id="etl",
    run_id="manual__1",
    run_type=DagRunType.MANUAL,
    state=DagRunState.SUCCESS,
    logical_date=datetime(2026, 1, 1, tzinfo=UTC),
    data_interval_start=None,
    data_interval_end=None,
    conf={"x": 1},
    queued_at=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    end_date=datetime(2026, 1, 1, 0, 0, 2, 500000, tzinfo=UTC),
    note="",
    task_counts={TaskInstanceState.SUCCESS: 2},
)


def test_a_table_aligns_its_columns_under_a_rule() -> None:
    table = render_table(["key", "value"], [["a", "1"], ["longer_key", ""]])
    assert table.splitlines() == [
        "key         value",
        "----------  -----",
        "a           1",
        "longer_key",
    ]


def test_an_empty_table_is_its_header() -> None:
    assert render_table(["dag_id", "paused"], []).splitlines() == [
        "dag_id  paused",
        "------  ------",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (True, "yes"),
        (False, "no"),
        (DagRunState.FAILED, "failed"),
        (datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))), "2026-01-01 00:00:00"),
        (timedelta(seconds=0.42), "0.42s"),
        (("a", "b"), "a, b"),
        ({"k": [1]}, '{"k":[1]}'),
        ("two\nlines", "two lines"),
        (7, "7"),
    ],
)
def test_cells(value: object, shown: str) -> None:
    assert format_cell(value) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(1.234, "1.23s"), (12.34, "12.3s"), (245, "4m05s"), (7380, "2h03m")],
)
def test_durations(seconds: float, shown: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == shown


def test_json_carries_every_field_with_iso_times_and_seconds() -> None:
    data = to_jsonable(RUN)
    assert data["state"] == "success"
    assert data["logical_date"] == "2026-01-01T00:00:00+00:00"
    assert data["task_counts"] == {"success": 2}
    assert data["conf"] == {"x": 1}
    assert to_jsonable(timedelta(seconds=1.5)) == 1.5
    json.dumps(data)


def test_print_records_as_a_table_or_one_json_document() -> None:
    columns = [
        Column[DagRun]("run_id", lambda r: r.run_id),
        Column("duration", lambda r: r.duration),
    ]
    table = io.StringIO()
    print_records([RUN], columns, "table", stream=table)
    assert table.getvalue().splitlines()[2] == "manual__1  2.50s"
    document = io.StringIO()
    print_records([RUN, RUN], columns, "json", stream=document)
    parsed = json.loads(document.getvalue())
    assert len(parsed) == 2
    assert parsed[0]["run_id"] == "manual__1"


def test_print_one_record() -> None:
    variable = Variable(key="k", value="v")
    shown = io.StringIO()
    print_record(variable, [("key", "k"), ("description", "")], "table", stream=shown)
    assert shown.getvalue().splitlines() == ["key:         k", "description:"]
    document = io.StringIO()
    print_record(variable, [], "json", stream=document)
    assert json.loads(document.getvalue()) == {"key": "k", "value": "v", "description": ""}
    assert render_fields([]) == ""
