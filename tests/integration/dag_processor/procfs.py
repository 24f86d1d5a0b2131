"""Looking at processes through /proc: who runs, in which group, started by whom."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessStat:
    """The few fields of /proc/PID/stat these tests need."""

    pid: int
    #: R, S, D, Z (zombie), T (stopped), ...
    state: str
    parent: int
    group: int

    @property
    def running(self) -> bool:
        """Whether it still runs (a zombie waiting to be reaped does not)."""
        return self.state != "Z"


def stat(pid: int) -> ProcessStat | None:
    """A process's stat, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    state, parent, group = text.rsplit(")", 1)[1].split()[:3]
    return ProcessStat(pid=pid, state=state, parent=int(parent), group=int(group))


def every_process() -> list[ProcessStat]:
    """Every process there is."""
    found = (stat(int(entry.name)) for entry in PROC.iterdir() if entry.name.isdigit())
    return [s for s in found if s is not None]


def running(pid: int) -> bool:
    """Whether ``pid`` runs."""
    found = stat(pid)
    return found is not None and found.running


def parent_pid(pid: int) -> int:
    """The parent of a running process."""
    found = stat(pid)
    assert found is not None, f"process {pid} is gone"
    return found.parent


def live_group_members(pgid: int) -> list[int]:
    """The running processes of a process group."""
    return [s.pid for s in every_process() if s.group == pgid and s.running]


def children(pid: int, *, command_contains: str = "") -> list[int]:
    """The running children of ``pid`` whose command line contains ``command_contains``."""
    found = []
    for child in every_process():
        if child.parent != pid or not child.running:
            continue
        try:
            command = (PROC / str(child.pid) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if command_contains.encode() in command:
            found.append(child.pid)
    return found
