"""Who task processes run as: the executor's rule for its default and for run_as_user."""

from __future__ import annotations

import pwd

import pytest

from executor.isolation import TaskIsolation, TaskUserRefused, look_up_user, task_user_name
from tradewind_common.config import ConfigError


def test_an_executor_running_as_root_gives_tasks_nobody_unless_told() -> None:
    assert task_user_name("", euid=0) == "nobody"
    assert task_user_name("root", euid=0) == "root"
    assert task_user_name("", euid=1000) == ""
    assert task_user_name("alice", euid=1000) == "alice"


def test_an_unknown_user_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no such user"):
        look_up_user("no-such-user-3c1")
    assert look_up_user("0").name == "root"


def as_root(monkeypatch: pytest.MonkeyPatch, euid: int = 0) -> None:
    monkeypatch.setattr("executor.isolation.os.geteuid", lambda: euid)


def test_a_root_executor_switches_to_a_task_s_user_but_not_to_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    as_root(monkeypatch)
    default = TaskIsolation(
        user=look_up_user("nobody"), confinement=None, allowed_users=frozenset({"daemon", "root"})
    )
    assert default.for_task("") is default
    assert default.for_task("nobody") is default
    other = default.for_task("daemon")
    assert other.user is not None
    assert other.user.name == "daemon"
    assert other.popen_options()["user"] == pwd.getpwnam("daemon").pw_uid
    with pytest.raises(TaskUserRefused, match="only on an executor started with --run-as-user"):
        default.for_task("root")
    told_root = TaskIsolation(user=look_up_user("root"), confinement=None)
    assert told_root.for_task("root") is told_root
    with pytest.raises(TaskUserRefused, match="no such user"):
        default.for_task("no-such-user-3c1")
    # A user the executor does not list is refused (a DAG author could pick 'postgres').
    with pytest.raises(TaskUserRefused, match="--task-users"):
        TaskIsolation(user=look_up_user("nobody"), confinement=None).for_task("daemon")


def test_an_executor_not_running_as_root_cannot_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = look_up_user("nobody")
    as_root(monkeypatch, euid=nobody.uid)
    own = TaskIsolation(user=None, confinement=None, allowed_users=frozenset({"daemon"}))
    assert own.for_task("nobody") is own
    with pytest.raises(TaskUserRefused, match="cannot switch users"):
        own.for_task("daemon")
