"""Airflow's setup and teardown rules over a DAG's structure, as pure functions.

A setup makes what the tasks downstream of it use; a teardown (trigger rule
``all_done_setup_success``) removes it once they are done, even when they failed. The rules
here say which setups a task depends on beyond its direct upstream tasks, which tasks decide a
run's state (teardowns do not, unless ``on_failure_fail_dagrun``), and which setups and
teardowns a clear takes along.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from core.graph import reachable


class TaskShape(Protocol):
    """What these rules read of a task."""

    @property
    def upstream(self) -> Collection[str]:
        """The direct upstream task ids."""

    @property
    def is_setup(self) -> bool:
        """Whether it is a setup."""

    @property
    def is_teardown(self) -> bool:
        """Whether it is a teardown."""

    @property
    def on_failure_fail_dagrun(self) -> bool:
        """Whether, as a teardown, its failure fails the run."""


@dataclass(frozen=True, kw_only=True)
class Shape:
    """A task's place in the graph and its setup/teardown role."""

    upstream: frozenset[str] = frozenset()
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False


class SetupTeardownGraph:
    """A DAG's tasks seen through their setup/teardown roles."""

    def __init__(self, tasks: Mapping[str, TaskShape]) -> None:
        self._tasks = tasks
        self._upstream = {
            t: frozenset(u for u in s.upstream if u in tasks) for t, s in tasks.items()
        }
        downstream: dict[str, set[str]] = {t: set() for t in tasks}
        for task_id, ups in self._upstream.items():
            for parent in ups:
                downstream[parent].add(task_id)
        self._downstream = {t: frozenset(d) for t, d in downstream.items()}
        self.has_setups = any(s.is_setup for s in tasks.values())
        self._scopes: dict[str, set[str]] | None = None

    def _teardowns_of(self, setup: str) -> set[str]:
        return {d for d in self._downstream[setup] if self._tasks[d].is_teardown}

    def relevant_setups(self, task_id: str) -> set[str]:
        """The setups upstream of ``task_id`` whose scope it is in.

        A setup counts when it has no teardown, or when one of its teardowns is downstream of
        the task: past its teardown a task is out of the setup's scope.
        """
        if self._scopes is None:
            self._scopes = self._setup_scopes()
        return set(self._scopes.get(task_id, ()))

    def _setup_scopes(self) -> dict[str, set[str]]:
        """Each task's relevant setups, found once per setup rather than once per task."""
        scopes: dict[str, set[str]] = {}
        for setup, shape in self._tasks.items():
            if not shape.is_setup:
                continue
            inside = reachable(self._downstream, [setup])
            teardowns = self._teardowns_of(setup)
            if teardowns:
                inside &= reachable(self._upstream, teardowns)
            for task_id in inside:
                scopes.setdefault(task_id, set()).add(setup)
        return scopes

    def indirect_setups(self, task_id: str) -> set[str]:
        """The relevant setups that are not direct upstream tasks; none for a teardown."""
        if not self.has_setups or self._tasks[task_id].is_teardown:
            return set()
        return self.relevant_setups(task_id) - self._upstream[task_id]

    def direct_setups(self, task_id: str) -> set[str]:
        """The direct upstream tasks that are setups."""
        return {u for u in self._upstream[task_id] if self._tasks[u].is_setup}

    def run_deciders(self) -> list[str]:
        """The tasks whose states decide a finished run's (Airflow's effective leaves).

        A task without downstream tasks, or with only teardowns downstream that may not fail
        the run, decides it; a teardown itself only with ``on_failure_fail_dagrun``.
        """

        def counts(task_id: str) -> bool:
            shape = self._tasks[task_id]
            return not shape.is_teardown or shape.on_failure_fail_dagrun

        deciders = [
            t for t in self._tasks if counts(t) and not any(counts(d) for d in self._downstream[t])
        ]
        return deciders or [t for t in self._tasks if not self._downstream[t]]

    def cleared_with(self, task_ids: Iterable[str], *, include_downstream: bool) -> set[str]:
        """The setups and teardowns a clear of ``task_ids`` takes along (Airflow's rule).

        A task's relevant setups and their teardowns run again with it; a setup's own
        teardowns with the setup (its downstream ones anyway with ``include_downstream``).
        """
        extra: set[str] = set()
        for task_id in task_ids:
            if task_id not in self._tasks:
                continue
            if self._tasks[task_id].is_setup:
                if not include_downstream:
                    extra |= self._teardowns_of(task_id)
                continue
            for setup in self.relevant_setups(task_id):
                extra.add(setup)
                extra |= self._teardowns_of(setup) - {task_id}
        return extra
