"""Memory of a process tree: summed RSS and PSS (from /proc/<pid>/smaps_rollup)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").glob("*"))
    except OSError:  # the process ended while we looked
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(roots: list[int]) -> set[int]:
    """The pids of ``roots`` and all their descendants (task processes included: they are
    children of the executors' fork servers)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack += _children(pid)
    return seen


def usage(pids: set[int]) -> tuple[int, int]:
    """Summed (RSS, PSS) in bytes of the live processes among ``pids``."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


@dataclass
class Sampler:
    """Samples a process tree every ``interval`` seconds and keeps the peaks."""

    roots: list[int]
    interval: float = 0.5
    peak_rss: int = 0
    peak_pss: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set."""
        while not stop.is_set():
            rss, pss = usage(tree(self.roots))
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
