"""One temporary folder per test session, and the processes that outlive it.

Every file a test makes with :mod:`tempfile`, ``tmp_path`` or a child process (they inherit
``TMPDIR``) lands under the session's folder, which goes when the session ends. A process that
still carries the folder in its environment then was started by a test and not stopped: that
is a leak, found even after it was re-parented to PID 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: How long processes get to finish exiting before they count as left behind.
EXIT_SECONDS = 10.0


@dataclass(frozen=True)
class Leftover:
    """A live process started under the session's temporary folder."""

    pid: int
    command: str


def make_session_folder() -> Path:
    """Create the session's folder and make it the temporary folder of this process and its
    children."""
    folder = Path(tempfile.mkdtemp(prefix="tradewind-tests-"))
    # Others may pass through (not list it): a private PostgreSQL server runs as its own user
    # in a folder of its own in here. What tempfile makes inside is private (0700/0600).
    folder.chmod(0o711)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    return folder


def _environment_names(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours to read
        return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def leftovers(folder: Path) -> list[Leftover]:
    """The live processes (other than this one) whose environment names ``folder`` as TMPDIR."""
    marker = f"TMPDIR={folder}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if _environment_names(pid, marker) and not _is_zombie(pid):
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                found.append(Leftover(pid, command))
    return found


def wait_for_leftovers(folder: Path, seconds: float = EXIT_SECONDS) -> list[Leftover]:
    """The leftovers still live after ``seconds`` (processes that are exiting get the time)."""
    deadline = time.monotonic() + seconds
    while (found := leftovers(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def kill(processes: list[Leftover]) -> None:
    """SIGKILL every leftover."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGKILL)
