"""The task state store in the state store: scoped to the caller's task instance, across tries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.states import TryOutcome
from services.state.db.engine import Database
from services.state.housekeeping import prune_task_state
from services.state.store import task_instances, task_state
from services.state.store.errors import Forbidden, LeaseLost
from services.state.store.execution import TryLease
from tests.helpers.store import State
from tests.integration.state.test_store_execution import complete, lease, queued


def put(database: Database, caller: TryLease, key: str, value: str, expires: Any = None) -> None:
    database.run_write(
        lambda s: task_state.set_task_state(s, caller, key, value, expires, datetime.now(UTC))
    )


def read(database: Database, caller: TryLease, key: str) -> str | None:
    def get(session: Any) -> str | None:
        row = task_state.get_task_state(session, caller, key, datetime.now(UTC))
        return row.value_json if row is not None else None

    return database.run_write(get)


def test_keys_outlive_the_try_that_set_them_and_stay_with_their_task_instance(
    database: Database,
) -> None:
    run = queued(database, {"a": [], "b": []}, "a", "b", retries=1)
    first_a, first_b = sorted(lease(database), key=lambda granted: granted.task_id)
    put(database, first_a, "job_id", '"job-1"')
    assert read(database, first_a, "job_id") == '"job-1"'
    assert read(database, first_b, "job_id") is None  # another task instance's keys
    complete(database, first_a, TryOutcome.FAILED)
    with pytest.raises(LeaseLost):
        read(database, first_a, "job_id")  # the ended try may not read any more
    run.apply(run.tis("a", to=State.QUEUED, frm=State.UP_FOR_RETRY, tries=1))
    (second,) = lease(database)
    assert second.try_number == 2
    assert read(database, second, "job_id") == '"job-1"'
    forged = TryLease("d", "r1", "a", 2, "not-a-lease")
    with pytest.raises(Forbidden):
        read(database, forged, "job_id")
    key = task_instances.TaskInstanceKey("d", "r1", "a")
    listed = database.run_write(
        lambda s: [
            (r.key, r.value_json) for r in task_state.list_task_state(s, key, datetime.now(UTC))
        ]
    )
    assert listed == [("job_id", '"job-1"')]


def test_expired_keys_read_as_missing_and_are_pruned(database: Database) -> None:
    queued(database, {"a": []}, "a")
    (caller,) = lease(database)
    past = datetime.now(UTC) - timedelta(seconds=1)
    put(database, caller, "old", "1", past)
    put(database, caller, "forever", "2", None)
    assert read(database, caller, "old") is None
    assert read(database, caller, "forever") == "2"
    assert database.run_write(prune_task_state) == 1


def test_delete_and_clear_report_what_was_there(database: Database) -> None:
    queued(database, {"a": []}, "a")
    (caller,) = lease(database)
    put(database, caller, "x", "1")
    put(database, caller, "y", "2")
    now = datetime.now(UTC)
    assert database.run_write(lambda s: task_state.delete_task_state(s, caller, "x", now))
    assert not database.run_write(lambda s: task_state.delete_task_state(s, caller, "x", now))
    assert database.run_write(lambda s: task_state.clear_task_state(s, caller, now)) == 1
    assert read(database, caller, "y") is None


def test_retention_gives_the_expiry() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    default = timedelta(days=30)
    assert task_state.expiry(now, None, never_expire=False, default=default) == now + default
    hour = timedelta(hours=1)
    assert task_state.expiry(now, hour, never_expire=False, default=default) == now + hour
    assert task_state.expiry(now, None, never_expire=True, default=default) is None
    assert task_state.expiry(now, None, never_expire=False, default=None) is None
