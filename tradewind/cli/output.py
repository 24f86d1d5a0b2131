"""Printing records: aligned plain-text tables for people, one JSON document for programs.

Times are shown in UTC. In JSON, times are ISO 8601 strings, durations are seconds, enums are
their names (``"up_for_retry"``) and records carry every field of the client's dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Generic, TextIO, TypeVar

from tradewind.client import LogLine, LogStream

T = TypeVar("T")

#: The gap between two table columns.
COLUMN_GAP = "  "


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column of a table: its header and how to read its cell from a record."""

    header: str
    value: Callable[[T], object]


def format_duration(value: timedelta) -> str:
    """A duration for a table cell: ``0.42s``, ``12.3s``, ``4m05s``, ``2h03m``.

    Args:
        value: the duration.

    Returns:
        Its short form.

    """
    seconds = value.total_seconds()
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_cell(value: object) -> str:
    """The text of one table cell.

    Args:
        value: a field of a record.

    Returns:
        Its text: empty for None, UTC times without the offset, short durations, "yes"/"no"
        for booleans, comma-joined sequences, compact JSON for mappings.

    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Mapping):
        return json.dumps(to_jsonable(value), separators=(",", ":"))
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_cell(item) for item in value)
    return " ".join(str(value).split())  # one line per row, whatever the value holds


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Align cells into columns under a header and a dashed rule.

    Args:
        headers: the column headers.
        rows: the cells of each row, one string per column.

    Returns:
        The table, one line per row, without trailing blanks or newline.

    """
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    lines.insert(1, ["-" * width for width in widths])
    return "\n".join(
        COLUMN_GAP.join(
            cell.ljust(width) for cell, width in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    )


def to_jsonable(value: Any) -> Any:
    """Turn records and their fields into JSON-encodable values.

    Args:
        value: a dataclass, mapping, sequence, datetime, timedelta, enum or plain value.

    Returns:
        Dicts, lists, strings, numbers, booleans and None.

    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    return value


def print_json(value: Any, *, stream: TextIO | None = None) -> None:
    """Print one JSON document.

    Args:
        value: what to print (through :func:`to_jsonable`).
        stream: where; stdout by default.

    """
    print(json.dumps(to_jsonable(value), indent=2), file=stream or sys.stdout)


def print_records(
    records: Sequence[T], columns: Sequence[Column[T]], output: str, *, stream: TextIO | None = None
) -> None:
    """Print a listing: a table of ``columns``, or every record in full as a JSON array.

    Args:
        records: the records.
        columns: the table's columns.
        output: ``table`` or ``json``.
        stream: where; stdout by default.

    """
    if output == "json":
        print_json(list(records), stream=stream)
        return
    rows = ([format_cell(column.value(record)) for column in columns] for record in records)
    print(render_table([c.header for c in columns], rows), file=stream or sys.stdout)


def render_fields(fields: Sequence[tuple[str, object]]) -> str:
    """Align ``name: value`` lines, for the details of one record.

    Args:
        fields: the names and values, in order.

    Returns:
        One line per field, the values aligned.

    """
    width = max((len(name) for name, _ in fields), default=0) + 1
    return "\n".join(
        f"{name + ':':<{width}} {format_cell(value)}".rstrip() for name, value in fields
    )


def print_record(
    record: Any,
    fields: Sequence[tuple[str, object]],
    output: str,
    *,
    stream: TextIO | None = None,
) -> None:
    """Print one record: its ``fields`` as aligned lines, or all of it as a JSON object.

    Args:
        record: the record, printed whole in JSON.
        fields: the names and values shown in a table.
        output: ``table`` or ``json``.
        stream: where; stdout by default.

    """
    if output == "json":
        print_json(record, stream=stream)
        return
    print(render_fields(fields), file=stream or sys.stdout)


#: How each stream is labelled in a printed log (logging lines show their level).
_STREAM_LABELS = {
    LogStream.STDOUT: "stdout",
    LogStream.STDERR: "stderr",
    LogStream.SYSTEM: "tradewind",
    LogStream.LOGGING: "log",
}


def format_log_line(line: LogLine) -> str:
    """One log line as printed: ``[2026-01-01 00:00:00.123] INFO - message``.

    Args:
        line: the line.

    Returns:
        Its text, the time in UTC.

    """
    when = line.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if line.timestamp else "-"
    label = line.level or (_STREAM_LABELS.get(line.stream, "") if line.stream else "")
    return f"[{when}] {label} - {line.message}" if label else f"[{when}] {line.message}"
