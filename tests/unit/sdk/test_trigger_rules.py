"""trigger_rule_satisfied and unsatisfied_state: Airflow's trigger rules as a pure function."""

from __future__ import annotations

import pytest

from tradewind import TaskInstanceState, TriggerRule
from tradewind.sdk.trigger_rules import trigger_rule_satisfied, unsatisfied_state

S, F, K, UF, R, N = "success", "failed", "skipped", "upstream_failed", "running", "none"


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ("all_success", [S, S], True),
        ("all_success", [S, R], None),
        ("all_success", [F, R], False),
        ("all_success", [S, K], False),
        ("all_failed", [F, UF], True),
        ("all_failed", [F, S], False),
        ("all_failed", [F, N], None),
        ("all_done", [S, F, K, UF], True),
        ("all_done", [S, R], None),
        ("all_skipped", [K, K], True),
        ("all_skipped", [K, S], False),
        ("one_success", [S, R], True),
        ("one_success", [F, K], False),
        ("one_success", [F, R], None),
        ("one_failed", [UF, R], True),
        ("one_failed", [S, K], False),
        ("one_done", [F, R], True),
        ("one_done", [K, K], False),
        ("one_done", [K, R], None),
        ("none_failed", [S, K], True),
        ("none_failed", [S, UF], False),
        ("none_failed", [S, R], None),
        ("none_failed_min_one_success", [S, K], True),
        ("none_failed_min_one_success", [K, K], False),
        ("none_failed_min_one_success", [S, F], False),
        ("none_failed_min_one_success", [K, R], None),
        ("none_skipped", [S, F], True),
        ("none_skipped", [S, K], False),
        ("always", [F, R], True),
        ("removed_are_ignored", [], True),
    ],
)
def test_trigger_rule_satisfied(rule: str, states: list[str], expected: bool | None) -> None:
    if rule == "removed_are_ignored":
        assert trigger_rule_satisfied("all_success", [S, "removed"]) is True
        return
    assert trigger_rule_satisfied(rule, states) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_no_upstream_means_satisfied(rule: TriggerRule) -> None:
    assert trigger_rule_satisfied(rule, []) is True


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ("all_success", [F, S], TaskInstanceState.UPSTREAM_FAILED),
        ("all_success", [K, S], TaskInstanceState.SKIPPED),
        ("one_success", [F, K], TaskInstanceState.UPSTREAM_FAILED),
        ("one_success", [K, K], TaskInstanceState.SKIPPED),
        ("none_failed", [UF], TaskInstanceState.UPSTREAM_FAILED),
        ("none_failed_min_one_success", [K, K], TaskInstanceState.SKIPPED),
        ("all_failed", [S], TaskInstanceState.SKIPPED),
        ("one_failed", [S, S], TaskInstanceState.SKIPPED),
        ("all_skipped", [F], TaskInstanceState.SKIPPED),
        ("none_skipped", [K], TaskInstanceState.SKIPPED),
    ],
)
def test_unsatisfied_state(rule: str, states: list[str], expected: TaskInstanceState) -> None:
    assert trigger_rule_satisfied(rule, states) is False
    assert unsatisfied_state(rule, states) is expected


def test_unknown_values_are_refused() -> None:
    with pytest.raises(ValueError, match="'sometimes' is not a valid TriggerRule"):
        trigger_rule_satisfied("sometimes", [S])
    with pytest.raises(ValueError, match="'exploded' is not a valid TaskInstanceState"):
        trigger_rule_satisfied("all_success", ["exploded"])
