"""Airflow's trigger rules as one pure function of the upstream task instances' states.

``trigger_rule_satisfied`` answers "may this task run now?" with True, False (never, whatever
happens next) or None (not decidable yet); ``unsatisfied_state`` says which state a task takes
when the answer is False, which is how failures and skips propagate downstream.
"""

from __future__ import annotations

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


#: The states in which a task instance is finished for its downstream tasks.
FINISHED_STATES = frozenset(
    {
        TaskInstanceState.SUCCESS,
        TaskInstanceState.FAILED,
        TaskInstanceState.UPSTREAM_FAILED,
        TaskInstanceState.SKIPPED,
    }
)


def trigger_rule_satisfied(
    rule: TriggerRule | str, upstream_states: Iterable[TaskInstanceState | str]
) -> bool | None:
    """Whether a task with ``rule`` may run, given its direct upstream tasks' states.

    Removed upstream task instances are ignored. A task without upstream tasks may always run.

    Args:
        rule: the task's trigger rule.
        upstream_states: the state of each direct upstream task instance.

    Returns:
        True when the task may run now, False when it never can in this run (see
        ``unsatisfied_state``), None when it depends on upstream tasks not finished yet.

    """
    counts = Counter(TaskInstanceState(state) for state in upstream_states)
    counts.pop(TaskInstanceState.REMOVED, None)
    total = sum(counts.values())
    success = counts[TaskInstanceState.SUCCESS]
    skipped = counts[TaskInstanceState.SKIPPED]
    failed = counts[TaskInstanceState.FAILED] + counts[TaskInstanceState.UPSTREAM_FAILED]
    done = success + skipped + failed
    all_done = done == total
    rule = TriggerRule(rule)
    if total == 0 or rule is TriggerRule.ALWAYS:
        return True
    if rule is TriggerRule.ALL_SUCCESS:
        return False if failed or skipped else _when(all_done)
    if rule is TriggerRule.ALL_FAILED:
        return False if success or skipped else _when(all_done)
    if rule is TriggerRule.ALL_DONE:
        return _when(all_done)
    if rule is TriggerRule.ALL_SKIPPED:
        return False if success or failed else _when(all_done)
    if rule is TriggerRule.ONE_SUCCESS:
        return True if success else (False if all_done else None)
    if rule is TriggerRule.ONE_FAILED:
        return True if failed else (False if all_done else None)
    if rule is TriggerRule.ONE_DONE:
        return True if success or failed else (False if all_done else None)
    if rule is TriggerRule.NONE_FAILED:
        return False if failed else _when(all_done)
    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if failed or (all_done and not success):
            return False
        return _when(all_done)
    # NONE_SKIPPED
    return False if skipped else _when(all_done)


def unsatisfied_state(
    rule: TriggerRule | str, upstream_states: Iterable[TaskInstanceState | str]
) -> TaskInstanceState:
    """The state a task takes when ``trigger_rule_satisfied`` said False, as in Airflow.

    Rules that wait for success end ``upstream_failed`` when an upstream task failed and
    ``skipped`` when upstream tasks were skipped; rules that wait for failures or skips end
    ``skipped``.

    Args:
        rule: the task's trigger rule.
        upstream_states: the state of each direct upstream task instance.

    Returns:
        ``TaskInstanceState.UPSTREAM_FAILED`` or ``TaskInstanceState.SKIPPED``.

    """
    states = {TaskInstanceState(state) for state in upstream_states}
    any_failed = bool(states & {TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED})
    propagates_failure = TriggerRule(rule) in {
        TriggerRule.ALL_SUCCESS,
        TriggerRule.ONE_SUCCESS,
        TriggerRule.NONE_FAILED,
        TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    }
    if propagates_failure and any_failed:
        return TaskInstanceState.UPSTREAM_FAILED
    return TaskInstanceState.SKIPPED


def _when(condition: bool) -> bool | None:
    return True if condition else None
