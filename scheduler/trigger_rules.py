"""Airflow's trigger rules: what the states of a task's direct upstream tasks mean for it.

:func:`evaluate` returns RUN (the rule is met), WAIT (not decidable yet), SKIP or
UPSTREAM_FAILED (the rule can no longer be met), exactly as Airflow's TriggerRuleDep decides
with ``flag_upstream_failed``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"
UPSTREAM_FAILED = "upstream_failed"
REMOVED = "removed"
#: Upstream states that count as done.
DONE_STATES = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED, REMOVED})

TRIGGER_RULES = frozenset(
    {
        "all_success",
        "all_failed",
        "all_done",
        "all_skipped",
        "one_success",
        "one_failed",
        "one_done",
        "none_failed",
        "none_failed_min_one_success",
        "none_skipped",
        "always",
    }
)


class Verdict(enum.Enum):
    """What a task instance's trigger rule says now."""

    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


def evaluate(rule: str, upstream_states: Iterable[str]) -> Verdict:
    """Decide a trigger rule from the states of the direct upstream task instances.

    Raises:
        ValueError: an unknown rule.

    """
    if rule not in TRIGGER_RULES:
        raise ValueError(f"unknown trigger rule {rule!r}")
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
