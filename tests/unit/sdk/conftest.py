"""Helpers for the SDK tests: contexts of task instances and an in-memory task runtime."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.context import Context, build_context
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore
from tradewind.sdk.runtime import use_runtime

LOGICAL_DATE = datetime(2024, 3, 15, 6, 30, tzinfo=UTC)
START = datetime(2024, 1, 1, tzinfo=UTC)


def context_for(task: BaseOperator, **overrides: Any) -> Context:
    """The context of try 1 of ``task`` in run "run_1" at LOGICAL_DATE."""
    values: dict[str, Any] = {"run_id": "run_1", "logical_date": LOGICAL_DATE}
    values.update(overrides)
    return build_context(task=task, **values)


#: Modules that the DAG files of the tests import from their DAG folders.
DAG_FOLDER_MODULES = ("common",)


@pytest.fixture(autouse=True)
def _isolated_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what loading DAG files adds to sys.path and sys.modules."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("unusual_prefix_") or name in DAG_FOLDER_MODULES:
            del sys.modules[name]


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def runtime(store: InMemoryStore) -> Iterator[InMemoryRuntime]:
    """An in-memory runtime installed for the task "current"."""
    bridge = store.runtime_for("current")
    with use_runtime(bridge):
        yield bridge
