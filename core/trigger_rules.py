"""Airflow's trigger rules as one pure function of the upstream task instances' states.

:func:`evaluate` returns RUN (the rule is met), WAIT (not decidable yet), SKIP or
UPSTREAM_FAILED (the rule can no longer be met, and the state the task takes), exactly as
Airflow's TriggerRuleDep decides with ``flag_upstream_failed``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum

from core.states import FINISHED, TaskInstanceState

_TI = TaskInstanceState


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
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"


class Verdict(enum.Enum):
    """What a task instance's trigger rule says now."""

    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


_RULES = frozenset(TriggerRule)
#: The state a task instance takes when its trigger rule can no longer be met.
STATE_OF_VERDICT = {Verdict.SKIP: _TI.SKIPPED, Verdict.UPSTREAM_FAILED: _TI.UPSTREAM_FAILED}


def evaluate(
    rule: TriggerRule | str,
    upstream_states: Iterable[str],
    *,
    setup_states: Iterable[str] = (),
) -> Verdict:
    """Decide a trigger rule from the states of the direct upstream task instances.

    ``setup_states`` are the states of those upstream task instances that are setups (they
    are among ``upstream_states`` too); only ``all_done_setup_success`` reads them.

    Raises:
        ValueError: an unknown rule.

    """
    if rule not in _RULES:
        raise ValueError(f"unknown trigger rule {rule!r}")
    rule = TriggerRule(rule)
    counts = Counter(upstream_states)
    total = sum(counts.values())
    success, skipped = counts[_TI.SUCCESS], counts[_TI.SKIPPED]
    failed, upstream_failed = counts[_TI.FAILED], counts[_TI.UPSTREAM_FAILED]
    done = sum(counts[s] for s in FINISHED)
    all_done = done == total
    failures = failed + upstream_failed

    def once_done(verdict: Verdict) -> Verdict:
        return verdict if all_done else Verdict.WAIT

    if rule is TriggerRule.ALWAYS or total == 0:
        return Verdict.RUN
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if failures:
                return Verdict.UPSTREAM_FAILED
            return Verdict.SKIP if skipped else once_done(Verdict.RUN)
        case TriggerRule.ALL_FAILED:
            return Verdict.SKIP if success or skipped else once_done(Verdict.RUN)
        case TriggerRule.ALL_DONE:
            return once_done(Verdict.RUN)
        case TriggerRule.ALL_SKIPPED:
            return Verdict.SKIP if success or failures else once_done(Verdict.RUN)
        case TriggerRule.ONE_SUCCESS:
            if success:
                return Verdict.RUN
            return once_done(Verdict.SKIP if done == skipped else Verdict.UPSTREAM_FAILED)
        case TriggerRule.ONE_FAILED:
            return Verdict.RUN if failures else once_done(Verdict.SKIP)
        case TriggerRule.ONE_DONE:
            return Verdict.RUN if success or failed else once_done(Verdict.SKIP)
        case TriggerRule.NONE_FAILED:
            return Verdict.UPSTREAM_FAILED if failures else once_done(Verdict.RUN)
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            if failures:
                return Verdict.UPSTREAM_FAILED
            return once_done(Verdict.RUN if success else Verdict.SKIP)
        case TriggerRule.NONE_SKIPPED:
            return Verdict.SKIP if skipped else once_done(Verdict.RUN)
        case TriggerRule.ALL_DONE_SETUP_SUCCESS:
            setups = Counter(setup_states)
            if not all_done or not setups:
                return once_done(Verdict.RUN)
            if setups[_TI.SKIPPED] == setups.total():
                return Verdict.SKIP
            return Verdict.RUN if setups[_TI.SUCCESS] else Verdict.UPSTREAM_FAILED
        case _:  # all_done_min_one_success: skipped upstream tasks never count as done
            if skipped:
                return Verdict.SKIP
            return once_done(Verdict.RUN if success else Verdict.UPSTREAM_FAILED)


def setup_constraint(setup_states: Iterable[str]) -> Verdict:
    """Airflow's rule for the setups a task depends on without being their direct downstream.

    Every such setup must succeed: a failed one makes the task upstream_failed and a skipped
    one skips it, at once; until they all succeeded the task waits (its own trigger rule is
    decided after this passes). Teardowns have no such constraint.
    """
    counts = Counter(setup_states)
    if counts[_TI.FAILED] or counts[_TI.UPSTREAM_FAILED]:
        return Verdict.UPSTREAM_FAILED
    if counts[_TI.SKIPPED]:
        return Verdict.SKIP
    return Verdict.RUN if counts[_TI.SUCCESS] == counts.total() else Verdict.WAIT
