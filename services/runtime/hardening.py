"""Keep a service's memory and environment from processes of the same user.

Services start processes that run user code (task processes, DAG file parses) as their own OS
user. Such a process could otherwise read the service's tokens and database URL from
``/proc/<pid>/environ`` or its memory, or attach a debugger. A non-dumpable process is out of
their reach (its ``/proc`` files belong to root, ptrace is refused); children that ``exec``
become dumpable again, so user code runs as usual.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

from tradewind_common.processes import PR_GET_DUMPABLE, PR_SET_DUMPABLE, on_linux, prctl

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
#: The capability sets' layout that capset(2) takes (two 32-bit words per set).
LINUX_CAPABILITY_VERSION_3 = 0x20080522
CAP_LAST_CAP_FILE = Path("/proc/sys/kernel/cap_last_cap")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def forbid_inspection() -> bool:
    """Make this process non-dumpable (Linux); return whether that took effect."""
    return prctl(PR_SET_DUMPABLE, 0) == 0


def inspection_allowed() -> bool:
    """Whether processes of the same user may read this process's memory and environment."""
    if not on_linux():
        return True
    return prctl(PR_GET_DUMPABLE) != 0


def drop_capabilities() -> bool:
    """Give up every capability for good, this process and what it executes (Linux).

    A task told to run as root keeps uid 0 but loses what makes root more than a user:
    reading non-dumpable processes (CAP_SYS_PTRACE), overriding file modes of other owners,
    binding low ports, loading modules; programs it executes gain none back.

    Returns:
        Whether it took effect.

    """
    if not on_linux():
        return False
    try:
        last = int(CAP_LAST_CAP_FILE.read_text())
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except (OSError, ValueError):
        return False
    for capability in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    return int(libc.capset(ctypes.byref(header), data)) == 0
