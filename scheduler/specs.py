"""The task specs of DAG versions as the scheduler keeps them, and what they tell of latency."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime

from scheduler.decisions import TaskSpec

#: A DAG version's tasks by task id.
TaskSpecs = Mapping[str, TaskSpec]
#: DAG versions kept by default; a version used again after it was dropped is fetched again.
DEFAULT_CAPACITY = 512


class SpecCache:
    """The task specs of the DAG versions seen most recently, by content hash (LRU)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._versions: OrderedDict[str, TaskSpecs] = OrderedDict()

    def __len__(self) -> int:
        return len(self._versions)

    def get(self, content_hash: str) -> TaskSpecs | None:
        """The specs of a version, or None when not kept."""
        specs = self._versions.get(content_hash)
        if specs is not None:
            self._versions.move_to_end(content_hash)
        return specs

    def put(self, content_hash: str, specs: TaskSpecs) -> None:
        """Keep the specs of a version, dropping the least recently used beyond capacity."""
        self._versions[content_hash] = specs
        self._versions.move_to_end(content_hash)
        while len(self._versions) > self._capacity:
            self._versions.popitem(last=False)

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """The content hashes among ``hashes`` that are not kept, sorted."""
        return sorted({h for h in hashes if h not in self._versions})


def upstream_end_to_queued(
    specs: TaskSpecs, end_dates: Mapping[str, datetime], task_id: str, queued_at: datetime
) -> float | None:
    """Seconds from the last end of a task's upstream tasks in its run to its queueing.

    Args:
        specs: the tasks of the run's own DAG version.
        end_dates: the end dates of the run's task instances, by task id.
        task_id: the task queued.
        queued_at: when it was queued.

    Returns:
        The seconds (at least 0), or None for a task without ended upstream tasks.

    """
    task = specs.get(task_id)
    times = [end_dates[u] for u in task.upstream if u in end_dates] if task is not None else []
    if not times:
        return None
    return max(0.0, (queued_at - max(times)).total_seconds())
