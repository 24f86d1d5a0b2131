"""Waiting for a run: back-off between polls, one report per change, a deadline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tradewind.client import (
    DagRun,
    DagRunState,
    DagRunType,
    TaskInstanceState,
    WaitTimeoutError,
    _waiting,
)
from tradewind.client._waiting import WaitMethods, next_poll_delay
from tradewind_common.channels import ChannelConfig


def run_with(state: DagRunState, **counts: int) -> DagRun:
    return DagRun(
        dag_id="etl",
        run_id="r1",
        run_type=DagRunType.MANUAL,
        state=state,
        logical_date=None,
        data_interval_start=None,
        data_interval_end=None,
        conf={},
        queued_at=None,
        start_date=None,
        end_date=None,
        note="",
        task_counts={TaskInstanceState(k): v for k, v in counts.items()},
    )


class ScriptedRuns(WaitMethods):
    """Answers GetDagRun from a script; the last answer repeats."""

    def __init__(self, *runs: DagRun) -> None:
        super().__init__(ChannelConfig(targets=("test:1",)), rpc_timeout=None, connect_timeout=None)
        self._script: Iterator[DagRun] = iter(runs)
        self._last = runs[0]
        self.polls = 0

    async def get_dag_run(self, dag_id: str, run_id: str) -> DagRun:
        self.polls += 1
        self._last = next(self._script, self._last)
        return self._last


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_waiting, "POLL_MIN_SECONDS", 0.001)
    monkeypatch.setattr(_waiting, "POLL_MAX_SECONDS", 0.004)


def test_the_pause_grows_while_nothing_changes_and_resets_after_a_change() -> None:
    delays = [0.001]
    for _ in range(6):
        delays.append(next_poll_delay(delays[-1], changed=False))
    assert delays == sorted(delays)
    assert delays[-1] == 0.004
    assert next_poll_delay(0.004, changed=True) == 0.001


async def test_each_change_is_reported_once_and_the_finished_run_returned() -> None:
    queued = run_with(DagRunState.QUEUED, none=2)
    running = run_with(DagRunState.RUNNING, running=1, none=1)
    done = run_with(DagRunState.SUCCESS, success=2)
    runs = ScriptedRuns(queued, queued, running, running, running, done)
    seen: list[DagRun] = []
    final = await runs.wait_for_run("etl", "r1", timeout=5, on_change=seen.append)
    assert final is done
    assert seen == [queued, running, done]
    assert runs.polls == 6


async def test_a_run_that_does_not_finish_in_time_raises_with_its_state() -> None:
    runs = ScriptedRuns(run_with(DagRunState.RUNNING, running=1))
    with pytest.raises(WaitTimeoutError, match=r"did not finish within 0.05s \(it is running\)"):
        await runs.wait_for_run("etl", "r1", timeout=0.05)
