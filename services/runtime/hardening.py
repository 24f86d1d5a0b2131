"""Keep a service's memory and environment from processes of the same user.

Services start processes that run user code (task processes, DAG file parses) as their own OS
user. Such a process could otherwise read the service's tokens and database URL from
``/proc/<pid>/environ`` or its memory, or attach a debugger. A non-dumpable process is out of
their reach (its ``/proc`` files belong to root, ptrace is refused); children that ``exec``
become dumpable again, so user code runs as usual.
"""

from __future__ import annotations

from tradewind_common.processes import PR_GET_DUMPABLE, PR_SET_DUMPABLE, on_linux, prctl


def forbid_inspection() -> bool:
    """Make this process non-dumpable (Linux); return whether that took effect."""
    return prctl(PR_SET_DUMPABLE, 0) == 0


def inspection_allowed() -> bool:
    """Whether processes of the same user may read this process's memory and environment."""
    if not on_linux():
        return True
    return prctl(PR_GET_DUMPABLE) != 0
