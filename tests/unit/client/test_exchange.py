"""Variables and connections in Airflow's import/export JSON formats."""

from __future__ import annotations

import json

import pytest

from tradewind.cli.exchange import (
    VariableEntry,
    connection_entries,
    connections_document,
    variable_entries,
    variables_document,
)
from tradewind.client import Connection, Variable


def test_variables_export_like_airflow_json_values_decoded_descriptions_kept() -> None:
    document = variables_document(
        [
            Variable(key="region", value="eu"),
            Variable(key="limits", value='{"rows": 10}'),
            Variable(key="count", value="3", description="how many"),
        ]
    )
    assert document == {
        "region": "eu",
        "limits": {"rows": 10},
        "count": {"value": 3, "description": "how many"},
    }


def test_variables_import_like_airflow_non_strings_become_json() -> None:
    entries = variable_entries(
        {
            "region": "eu",
            "limits": {"rows": 10},
            "count": {"value": 3, "description": "how many"},
            "flags": [1, 2],
        }
    )
    assert entries == [
        VariableEntry("region", "eu"),
        VariableEntry("limits", '{"rows": 10}'),
        VariableEntry("count", "3", "how many"),
        VariableEntry("flags", "[1, 2]"),
    ]


def test_a_variables_round_trip_keeps_every_value() -> None:
    variables = [
        Variable(key="a", value="x"),
        Variable(key="b", value='{"k": [1]}'),
        Variable(key="c", value="1", description="one"),
    ]
    document = json.loads(json.dumps(variables_document(variables)))
    assert [
        (e.key, json.loads(e.value) if e.value != "x" else e.value, e.description)
        for e in variable_entries(document)
    ] == [("a", "x", ""), ("b", {"k": [1]}, ""), ("c", 1, "one")]


def test_connections_export_and_import_like_airflow() -> None:
    warehouse = Connection(
        conn_id="warehouse",
        conn_type="postgres",
        host="db.internal",
        schema="sales",
        login="etl",
        password="s3cret",
        port=5432,
        extra_json='{"sslmode": "require"}',
        description="the warehouse",
    )
    document = connections_document([warehouse])
    assert document == {
        "warehouse": {
            "conn_type": "postgres",
            "description": "the warehouse",
            "host": "db.internal",
            "login": "etl",
            "password": "s3cret",
            "schema": "sales",
            "port": 5432,
            "extra": '{"sslmode": "require"}',
        }
    }
    assert connection_entries(json.loads(json.dumps(document))) == [warehouse]


def test_connection_entries_take_object_extras_and_uris() -> None:
    entries = connection_entries(
        {
            "api": {"conn_type": "http", "host": "api.example.com", "extra": {"timeout": 5}},
            "db": "postgres://etl:pw@db:5432/sales",
        }
    )
    assert entries[0].extra_json == '{"timeout": 5}'
    assert (entries[1].conn_type, entries[1].host, entries[1].port) == ("postgres", "db", 5432)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (["not", "an", "object"], "JSON object"),
        ({"x": 3}, "expected an object or a URI"),
        ({"x": {"host": "h"}}, "conn_type is required"),
        ({"x": {"conn_type": "http", "hots": "h"}}, "unknown field"),
    ],
)
def test_malformed_connection_files_are_refused_with_a_reason(
    document: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        connection_entries(document)
