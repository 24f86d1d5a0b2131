"""How the executor isolates task processes: the OS user they run as, and their confinement.

Every task process is non-dumpable and, where the kernel offers Landlock, cannot reach
Tradewind's home (database, keys, tokens), the executor's TLS key or the paths an operator adds.
An executor running as root never runs task code as root unless told to (``--run-as-user
root``, and then the tasks lose every capability): by default its tasks run as ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.runtime.confinement import (
    PROTECTED_PATHS,
    Confinement,
    landlock_abi,
    user_code_confinement,
    user_code_environment,
)
from tradewind_common import config as cfg
from tradewind_common.config import ConfigError

RUN_AS_USER = cfg.Setting(
    name="run_as_user",
    parse=cfg.parse_text,
    default="",
    help="OS user that task processes run as; unset: the executor's own user, or 'nobody'"
    " when the executor runs as root ('root' runs tasks as root, without capabilities)",
)
TASK_USERS = cfg.Setting[tuple[str, ...]](
    name="task_users",
    parse=cfg.parse_list,
    default=(),
    help="comma-separated OS users a task's run_as_user may name besides --run-as-user's"
    " (unset: none; a DAG author could otherwise pick any account, 'postgres' say)",
)
CONFINE_TASKS = cfg.Setting(
    name="confine_tasks",
    parse=cfg.parse_bool,
    default=True,
    switch=True,
    help="confine task processes with Landlock where the kernel offers it",
)
ISOLATION_SETTINGS = (RUN_AS_USER, TASK_USERS, PROTECTED_PATHS, CONFINE_TASKS)
#: The user an executor running as root gives task code unless told otherwise.
DEFAULT_ROOT_TASK_USER = "nobody"
#: Seconds the check that the task user can start Tradewind's task runner may take.
USER_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class TaskUser:
    """An OS user to switch task processes to."""

    name: str
    uid: int
    gid: int
    home: str


def task_user_name(requested: str, euid: int) -> str:
    """The user task processes run as ("" for the executor's own): the rule of the module doc."""
    if requested:
        return requested
    return DEFAULT_ROOT_TASK_USER if euid == 0 else ""


def own_user_name() -> str:
    """The name of the user this process runs as, or its uid where it has no passwd entry."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def look_up_user(name: str) -> TaskUser:
    """The user called ``name`` (or a numeric uid).

    Raises:
        ConfigError: no such user.

    """
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"--run-as-user {name}: no such user on this machine") from err
    return TaskUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


class TaskUserRefused(Exception):
    """A task's run_as_user cannot be honoured; the message says why."""


@dataclass(frozen=True)
class TaskIsolation:
    """The user and confinement of the executor's task processes."""

    #: None: the executor's own user.
    user: TaskUser | None
    confinement: Confinement | None
    #: The users a task's run_as_user may name besides :attr:`user`.
    allowed_users: frozenset[str] = frozenset()

    def environment(self) -> dict[str, str]:
        """The environment of a task process (or of the fork server that forks them)."""
        env = user_code_environment(self.confinement)
        if self.user is not None:
            env.update(HOME=self.user.home, USER=self.user.name, LOGNAME=self.user.name)
        return env

    def popen_options(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments that start a process as the task user."""
        if self.user is None or self.user.uid == os.geteuid():
            return {}
        return {
            "user": self.user.uid,
            "group": self.user.gid,
            "extra_groups": [],
            "cwd": "/",  # not a folder others may write to: nothing is imported from it
        }

    def for_task(self, requested: str) -> TaskIsolation:
        """The isolation of a task that asks to run as ``requested`` (its ``run_as_user``).

        As in Airflow, a task may name its OS user; the executor honours it when it runs as
        root and the user is among those it allows (``--task-users``), and a task may ask for
        root only where the executor runs tasks as root anyway.

        Raises:
            TaskUserRefused: the executor cannot or may not switch to that user.

        """
        if not requested:
            return self
        current = self.user.name if self.user is not None else own_user_name()
        try:
            user = look_up_user(requested)
        except ConfigError as err:
            raise TaskUserRefused(f"run_as_user={requested!r}: no such user") from err
        if user.name == current:
            return self
        if user.name not in self.allowed_users:
            raise TaskUserRefused(
                f"run_as_user={requested!r}: not among the users this executor lets tasks"
                " run as (--task-users)"
            )
        if os.geteuid() != 0:
            raise TaskUserRefused(
                f"run_as_user={requested!r}: this executor runs as {current} and cannot switch"
                " users; run it as root to honour run_as_user"
            )
        if user.uid == 0:
            raise TaskUserRefused(
                f"run_as_user={requested!r}: tasks run as root only on an executor started"
                " with --run-as-user root"
            )
        return TaskIsolation(
            user=user, confinement=self.confinement, allowed_users=self.allowed_users
        )

    def describe(self) -> str:
        """What protects task processes, for the executor's start-up log."""
        who = self.user.name if self.user is not None else own_user_name()
        parts = [f"tasks run as {who}", "non-dumpable"]
        if who == "root" or (self.user is not None and self.user.uid == 0):
            parts.append("without capabilities")
        abi = landlock_abi()
        if self.confinement is not None and abi:
            hidden = ", ".join(str(p) for p in self.confinement.protected)
            parts.append(f"Landlock ABI {abi} hides {hidden}")
        elif self.confinement is not None:
            parts.append("no Landlock in this kernel: protected paths rely on file modes")
        else:
            parts.append("Landlock off (--no-confine-tasks)")
        return "; ".join(parts)


def check_user_can_run_tasks(
    user: TaskUser, folders: Iterable[Path], env: dict[str, str], options: dict[str, Any]
) -> None:
    """Import the task runner and list ``folders`` as ``user`` once: a wrong setting fails now.

    Raises:
        ConfigError: the user cannot run this Python, import Tradewind or read the folders.

    """
    listing = "".join(f"; os.listdir({str(folder)!r})" for folder in folders)
    try:
        subprocess.run(
            [sys.executable, "-P", "-c", f"import os, executor.task_runner{listing}"],
            env=env,
            check=True,
            capture_output=True,
            timeout=USER_CHECK_SECONDS,
            **options,
        )
    except (OSError, subprocess.SubprocessError) as err:
        output = getattr(err, "stderr", b"") or b""
        last = output.decode(errors="replace").strip().splitlines()[-1:] or [str(err)]
        raise ConfigError(
            f"task processes would run as {user.name}, who cannot start Tradewind's task"
            f" runner ({sys.executable}) or read the DAG folder: {last[0]}. Make them readable"
            f" for {user.name}, pass --run-as-user with another user, or --run-as-user root to"
            " run tasks as root (without capabilities)"
        ) from err


def task_isolation(
    values: cfg.Settings, *, granted: Iterable[Path | None], own_key: Path | None
) -> TaskIsolation:
    """The isolation the settings ask for, checked.

    Args:
        values: the executor's settings.
        granted: folders tasks must reach (the DAG and plugins folders).
        own_key: the executor's TLS key, hidden from tasks.

    Raises:
        ConfigError: an unknown user, or one who cannot run tasks.

    """
    granted = list(granted)
    name = task_user_name(values[RUN_AS_USER], os.geteuid())
    user = look_up_user(name) if name else None
    extra = [Path(p) for p in values[PROTECTED_PATHS]]
    confinement = (
        user_code_confinement(granted=granted, protected=[own_key, *extra])
        if values[CONFINE_TASKS]
        else None
    )
    allowed: tuple[str, ...] = values[TASK_USERS]
    isolation = TaskIsolation(user=user, confinement=confinement, allowed_users=frozenset(allowed))
    options = isolation.popen_options()
    if user is not None and options:
        folders = [Path(p) for p in granted if p is not None]
        check_user_can_run_tasks(user, folders, isolation.environment(), options)
    return isolation


def default_user_can_run_tasks(folders: Iterable[Path]) -> bool:
    """Whether an executor running as root could run tasks reading ``folders`` as 'nobody'.

    Tools that start executors for people (the demo, the benchmarks) ask this on machines
    where they run as root, and tell the executor to run tasks as root when it is False.
    """
    try:
        user = look_up_user(DEFAULT_ROOT_TASK_USER)
        isolation = TaskIsolation(user=user, confinement=None)
        check_user_can_run_tasks(
            user, list(folders), isolation.environment(), isolation.popen_options()
        )
    except ConfigError:
        return False
    return True
