"""Process lifetimes on Linux: dying with a parent, adopting orphans, killing a whole session.

A supervisor that cannot leave orphans needs three things from the kernel: its children learn
of its death (``PR_SET_PDEATHSIG``), processes orphaned below it are re-parented to it rather
than to PID 1 (``PR_SET_CHILD_SUBREAPER``), and everything a task started can be found by its
session id in ``/proc`` even after it changed process group. Elsewhere than Linux these are
no-ops and the functions report so.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PROC = Path("/proc")
#: Set by a supervisor to its pid: a service started with it gets SIGTERM when that process dies.
SUPERVISOR_PID_ENV = "TRADEWIND_SUPERVISOR_PID"


def on_linux() -> bool:
    """Whether the prctl(2) and /proc features are available."""
    return sys.platform.startswith("linux")


def prctl(option: int, value: int = 0) -> int:
    """Ask the kernel for a process control (a PR_* option); -1 on failure or off Linux."""
    if not on_linux():
        return -1
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return -1
    return int(libc.prctl(option, value, 0, 0, 0))


def die_with_parent(sig: int = signal.SIGKILL, *, expected_parent: int | None = None) -> bool:
    """Have the kernel send ``sig`` to this process when its parent dies.

    Args:
        sig: the signal (SIGTERM lets a service drain; SIGKILL is for jobs).
        expected_parent: the parent's pid, when known: if the parent died before the call (the
            process was re-parented already), this process gets ``sig`` at once.

    Returns:
        Whether the kernel took the request.

    """
    taken = prctl(PR_SET_PDEATHSIG, sig) == 0
    if taken and expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)
    return taken


def become_subreaper() -> bool:
    """Adopt the processes orphaned below this one (instead of PID 1 adopting them)."""
    return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    return text[text.rfind(")") + 2 :].split()


def _pids() -> Iterator[int]:
    with contextlib.suppress(OSError):
        for entry in os.scandir(PROC):
            if entry.name.isdigit():
                yield int(entry.name)


def session_members(session_id: int) -> list[int]:
    """The live processes of a session (zombies left out); empty off Linux."""
    members = []
    for pid in _pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != "Z" and int(fields[3]) == session_id:
            members.append(pid)
    return members


def children_of(parent: int) -> list[int]:
    """The live processes whose parent is ``parent``."""
    found = []
    for pid in _pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != "Z" and int(fields[1]) == parent:
            found.append(pid)
    return found


def kill_session(session_id: int, sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to every live process of a session; return how many were signalled."""
    signalled = 0
    for pid in session_members(session_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            signalled += 1
    return signalled


def kill_descendants(sig: int = signal.SIGKILL) -> int:
    """Signal every live descendant of this process (as a subreaper sees them)."""
    signalled = 0
    seen: set[int] = set()
    frontier = [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid in children_of(parent):
            if pid in seen:
                continue
            seen.add(pid)
            frontier.append(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                signalled += 1
    return signalled


def reap_children() -> None:
    """Collect the exit status of every child that has ended (adopted orphans included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
