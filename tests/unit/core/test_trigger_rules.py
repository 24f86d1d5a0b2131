from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.states import FINISHED as DONE_STATES
from core.states import TaskInstanceState as State
from core.trigger_rules import TriggerRule, Verdict, evaluate, setup_constraint

S, F, K, U, R = State.SUCCESS, State.FAILED, State.SKIPPED, State.UPSTREAM_FAILED, State.RUNNING
TRIGGER_RULES = frozenset(TriggerRule)
RUN, WAIT, SKIP, UFAIL = Verdict.RUN, Verdict.WAIT, Verdict.SKIP, Verdict.UPSTREAM_FAILED

TABLE = [
    # rule, upstream states, verdict
    ("all_success", [S, S], RUN),
    ("all_success", [S, R], WAIT),
    ("all_success", [S, F], UFAIL),
    ("all_success", [S, U], UFAIL),
    ("all_success", [S, K], SKIP),
    ("all_failed", [F, U], RUN),
    ("all_failed", [F, R], WAIT),
    ("all_failed", [F, S], SKIP),
    ("all_failed", [F, K], SKIP),
    ("all_done", [S, F, K, U], RUN),
    ("all_done", [S, R], WAIT),
    ("all_skipped", [K, K], RUN),
    ("all_skipped", [K, R], WAIT),
    ("all_skipped", [K, S], SKIP),
    ("all_skipped", [K, F], SKIP),
    ("one_success", [S, R], RUN),
    ("one_success", [F, R], WAIT),
    ("one_success", [F, K], UFAIL),
    ("one_success", [K, K], SKIP),
    ("one_failed", [F, R], RUN),
    ("one_failed", [U, R], RUN),
    ("one_failed", [S, R], WAIT),
    ("one_failed", [S, K], SKIP),
    ("one_done", [S, R], RUN),
    ("one_done", [F, R], RUN),
    ("one_done", [K, R], WAIT),
    ("one_done", [K, U], SKIP),
    ("none_failed", [S, K], RUN),
    ("none_failed", [S, R], WAIT),
    ("none_failed", [S, F], UFAIL),
    ("none_failed", [K, U], UFAIL),
    ("none_failed_min_one_success", [S, K], RUN),
    ("none_failed_min_one_success", [K, K], SKIP),
    ("none_failed_min_one_success", [S, R], WAIT),
    ("none_failed_min_one_success", [S, F], UFAIL),
    ("none_skipped", [S, F], RUN),
    ("none_skipped", [S, R], WAIT),
    ("none_skipped", [S, K], SKIP),
    ("all_done_setup_success", [S, F, K, U], RUN),  # without setups it is all_done
    ("all_done_setup_success", [S, R], WAIT),
    ("all_done_min_one_success", [S, F, U], RUN),
    ("all_done_min_one_success", [S, R], WAIT),
    ("all_done_min_one_success", [F, U], UFAIL),
    ("all_done_min_one_success", [S, K], SKIP),
    ("all_done_min_one_success", [K, R], SKIP),
    ("always", [R, R], RUN),
    ("always", [F, U], RUN),
]


@pytest.mark.parametrize(("rule", "upstream", "verdict"), TABLE)
def test_trigger_rule_table(rule: str, upstream: list[str], verdict: Verdict) -> None:
    assert evaluate(rule, upstream) is verdict


def test_every_rule_is_in_the_table() -> None:
    assert {rule for rule, _, _ in TABLE} == TRIGGER_RULES


@pytest.mark.parametrize("rule", sorted(TRIGGER_RULES))
def test_a_task_without_upstream_runs(rule: str) -> None:
    assert evaluate(rule, []) is RUN


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown trigger rule 'sometimes'"):
        evaluate("sometimes", [S])


STATES = st.sampled_from(
    [S, F, K, U, State.REMOVED, R, State.QUEUED, State.NONE, State.UP_FOR_RETRY, State.SCHEDULED]
)


@given(rule=st.sampled_from(sorted(TRIGGER_RULES)), upstream=st.lists(STATES, max_size=8))
def test_verdict_is_final_once_every_upstream_is_done(rule: str, upstream: list[str]) -> None:
    verdict = evaluate(rule, upstream)
    if all(state in DONE_STATES for state in upstream):
        assert verdict is not WAIT


@given(
    rule=st.sampled_from(sorted(TRIGGER_RULES)),
    upstream=st.lists(STATES, max_size=8),
    order=st.randoms(),
)
def test_verdict_does_not_depend_on_upstream_order(
    rule: str, upstream: list[str], order: object
) -> None:
    shuffled = list(upstream)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert evaluate(rule, shuffled) is evaluate(rule, upstream)


@given(
    rule=st.sampled_from(sorted(TRIGGER_RULES)),
    done=st.lists(st.sampled_from(sorted(DONE_STATES)), max_size=6),
    pending=st.lists(st.sampled_from([R, State.QUEUED, State.NONE]), min_size=1, max_size=3),
)
def test_a_final_verdict_never_changes_when_pending_upstream_finish(
    rule: str, done: list[str], pending: list[str]
) -> None:
    """Deciding early is safe: whether the task runs cannot change once decided."""
    early = evaluate(rule, done + pending)
    if early is WAIT:
        return
    for outcome in sorted(DONE_STATES):
        assert (evaluate(rule, done + [outcome] * len(pending)) is RUN) == (early is RUN)


SETUP_TABLE = [
    # upstream states, the states of those that are setups, verdict
    ([S, F], [S], RUN),  # the work failed, its setup succeeded: the teardown runs
    ([S, S, F], [S, F], RUN),  # one setup succeeded is enough
    ([F, F], [F], UFAIL),  # no setup succeeded
    ([K, S], [K], SKIP),  # every setup skipped
    ([K, F], [K, F], UFAIL),
    ([S, R], [S], WAIT),  # the work still runs
]


@pytest.mark.parametrize(("upstream", "setups", "verdict"), SETUP_TABLE)
def test_all_done_setup_success_reads_the_upstream_setups(
    upstream: list[str], setups: list[str], verdict: Verdict
) -> None:
    assert evaluate("all_done_setup_success", upstream, setup_states=setups) is verdict


@pytest.mark.parametrize(
    ("setups", "verdict"),
    [([S, S], RUN), ([S, R], WAIT), ([S, F], UFAIL), ([R, U], UFAIL), ([S, K], SKIP), ([], RUN)],
)
def test_the_setup_constraint_needs_every_indirect_setup_to_succeed(
    setups: list[str], verdict: Verdict
) -> None:
    assert setup_constraint(setups) is verdict
