"""The task runtime bridge: Variables, Connections and XComs through the current runtime."""

from __future__ import annotations

import pytest

from tradewind import (
    Connection,
    ConnectionNotFound,
    Variable,
    VariableNotFound,
    get_current_context,
)
from tradewind.sdk.exceptions import NoTaskContext
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore
from tradewind.sdk.runtime import TaskRuntime, current_runtime


def test_in_memory_runtime_is_a_task_runtime(runtime: InMemoryRuntime) -> None:
    assert isinstance(runtime, TaskRuntime)
    assert current_runtime() is runtime


def test_variables(runtime: InMemoryRuntime, store: InMemoryStore) -> None:
    Variable.set("plain", 42)
    Variable.set("structured", {"a": [1]}, serialize_json=True)
    assert store.variables["plain"] == "42"
    assert Variable.get("plain") == "42"
    assert Variable.get("structured", deserialize_json=True) == {"a": [1]}
    assert Variable.get("missing", default_var=None) is None
    assert Variable.get("missing", default="d") == "d"
    with pytest.raises(VariableNotFound, match="Variable missing does not exist") as caught:
        Variable.get("missing")
    assert isinstance(caught.value, KeyError)
    Variable.delete("plain")
    Variable.delete("plain")
    assert "plain" not in store.variables


def test_connections(runtime: InMemoryRuntime, store: InMemoryStore) -> None:
    store.add_connection(
        Connection(
            conn_id="db",
            conn_type="postgres",
            host="db.example",
            login="user",
            password="p@ss word",
            schema="sales",
            port=5432,
            extra='{"sslmode": "require"}',
        )
    )
    db = Connection.get("db")
    assert db.get_uri() == "postgres://user:p%40ss%20word@db.example:5432/sales?sslmode=require"
    assert db.extra_dejson == {"sslmode": "require"}
    assert Connection.from_uri("db", db.get_uri()) == db
    with pytest.raises(ConnectionNotFound, match="The conn_id `nope` isn't defined"):
        Connection.get("nope")


def test_connection_uri_edge_cases() -> None:
    bare = Connection(conn_id="c", conn_type="http_api", port=80)
    nested = Connection(conn_id="n", conn_type="aws", extra='{"a": {"b": 1}}')
    assert bare.get_uri() == "http-api://@:80"
    assert nested.get_uri() == "aws:///?__extra__=%7B%22a%22%3A+%7B%22b%22%3A+1%7D%7D"
    assert Connection.from_uri("n", nested.get_uri()).extra_dejson == {"a": {"b": 1}}


def test_outside_a_task_there_is_no_runtime_and_no_context() -> None:
    with pytest.raises(NoTaskContext, match="only available while a task runs"):
        Variable.get("x")
    with pytest.raises(NoTaskContext, match="no context was found"):
        get_current_context()
