"""``task_state_store`` in a task: its own instance's keys, across tries, with retention."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.runtime import use_runtime
from tradewind.sdk.task_state import NEVER_EXPIRE, TaskStateStore


def test_a_task_instance_keeps_its_keys_and_sees_no_other_instances() -> None:
    store = InMemoryStore()
    accessor = TaskStateStore()
    with use_runtime(store.runtime_for("submit", 3)):
        assert accessor.get("job_id", default="none yet") == "none yet"
        accessor.set("job_id", {"id": 42})
        accessor.set("forever", [1, 2], retention=NEVER_EXPIRE)
    with use_runtime(store.runtime_for("submit", 3)):  # the next try of the same instance
        assert accessor.get("job_id") == {"id": 42}
    with use_runtime(store.runtime_for("submit", 4)):  # another map index
        assert accessor.get("job_id") is None
    key = ("submit", 3)
    assert store.task_state[key]["forever"][1] is None
    assert store.task_state[key]["job_id"][1] is not None  # the 30-day default


def test_expired_keys_are_gone_and_delete_and_clear_forget() -> None:
    store = InMemoryStore()
    accessor = TaskStateStore()
    with use_runtime(store.runtime_for("t")):
        accessor.set("brief", 1, retention=timedelta(microseconds=1))
        accessor.set("a", 1)
        accessor.set("b", 2)
        assert accessor.get("brief") is None
        accessor.delete("a")
        accessor.delete("never-set")
        assert accessor.get("a") is None
        accessor.clear()
        assert accessor.get("b") is None


def test_set_refuses_none_and_bad_retentions() -> None:
    accessor = TaskStateStore()
    with use_runtime(InMemoryStore().runtime_for("t")):
        with pytest.raises(ValueError, match="use delete"):
            accessor.set("k", None)
        with pytest.raises(ValueError, match="positive"):
            accessor.set("k", 1, retention=timedelta(0))
        with pytest.raises(TypeError, match="retention"):
            accessor.set("k", 1, retention=3600)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            accessor.set("k", object())
