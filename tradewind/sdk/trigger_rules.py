"""Airflow's trigger rules as one pure function of the upstream task instances' states.

:func:`evaluate` returns RUN (the rule is met), WAIT (not decidable yet), SKIP or
UPSTREAM_FAILED (the rule can no longer be met, and the state the task takes), exactly as
Airflow's TriggerRuleDep decides with ``flag_upstream_failed``. The scheduler and
``tradewind.testing.run_dag`` both decide with it.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum


class TriggerRule(StrEnum):
    """When a task may run, given the states of its direct upstream tasks."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"


class TaskInstanceState(StrEnum):
    """The states of a task instance, as in Airflow."""

    NONE = "none"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    REMOVED = "removed"
    RESTARTING = "restarting"


#: The upstream states that count as done.
DONE_STATES = frozenset(
    {
        TaskInstanceState.SUCCESS,
        TaskInstanceState.FAILED,
        TaskInstanceState.SKIPPED,
        TaskInstanceState.UPSTREAM_FAILED,
        TaskInstanceState.REMOVED,
    }
)
SUCCESS = TaskInstanceState.SUCCESS
FAILED = TaskInstanceState.FAILED
SKIPPED = TaskInstanceState.SKIPPED
UPSTREAM_FAILED = TaskInstanceState.UPSTREAM_FAILED
TRIGGER_RULES = frozenset(rule.value for rule in TriggerRule)


class Verdict(enum.Enum):
    """What a task instance's trigger rule says now."""

    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


def evaluate(
    rule: TriggerRule | str, upstream_states: Iterable[TaskInstanceState | str]
) -> Verdict:
    """Decide a trigger rule from the states of the direct upstream task instances.

    Raises:
        ValueError: an unknown rule.

    """
    if rule not in TRIGGER_RULES:
        raise ValueError(f"unknown trigger rule {rule!r}")
    rule = str(rule)
    counts = Counter(upstream_states)
    total = sum(counts.values())
    success, skipped = counts[SUCCESS], counts[SKIPPED]
    failed, upstream_failed = counts[FAILED], counts[UPSTREAM_FAILED]
    done = sum(counts[s] for s in DONE_STATES)
    all_done = done == total
    failures = failed + upstream_failed

    if rule == "always" or total == 0:
        return Verdict.RUN
    if rule == "all_success":
        if failures:
            return Verdict.UPSTREAM_FAILED
        if skipped:
            return Verdict.SKIP
        return Verdict.RUN if all_done else Verdict.WAIT
    if rule == "all_failed":
        if success or skipped:
            return Verdict.SKIP
        return Verdict.RUN if all_done else Verdict.WAIT
    if rule == "all_done":
        return Verdict.RUN if all_done else Verdict.WAIT
    if rule == "all_skipped":
        if success or failures:
            return Verdict.SKIP
        return Verdict.RUN if all_done else Verdict.WAIT
    if rule == "one_success":
        if success:
            return Verdict.RUN
        if all_done:
            return Verdict.SKIP if done == skipped else Verdict.UPSTREAM_FAILED
        return Verdict.WAIT
    if rule == "one_failed":
        if failures:
            return Verdict.RUN
        return Verdict.SKIP if all_done else Verdict.WAIT
    if rule == "one_done":
        if success or failed:
            return Verdict.RUN
        return Verdict.SKIP if all_done else Verdict.WAIT
    if rule == "none_failed":
        if failures:
            return Verdict.UPSTREAM_FAILED
        return Verdict.RUN if all_done else Verdict.WAIT
    if rule == "none_failed_min_one_success":
        if failures:
            return Verdict.UPSTREAM_FAILED
        if not all_done:
            return Verdict.WAIT
        return Verdict.RUN if success else Verdict.SKIP
    # none_skipped
    if skipped:
        return Verdict.SKIP
    return Verdict.RUN if all_done else Verdict.WAIT
