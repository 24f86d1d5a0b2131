"""Recorded scheduling histories must replay to the same decisions (see ``replay.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.scheduler.replay import HISTORIES, load, replay

PATHS = sorted(HISTORIES.glob("*.json"))


def test_there_are_histories() -> None:
    assert len(PATHS) >= 5


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_history_replays_to_the_recorded_decisions(path: Path) -> None:
    history = load(path)
    decisions = replay(history)
    for index, (step, decision) in enumerate(zip(history["steps"], decisions, strict=True)):
        assert decision == step["decision"], f"{path.name}: step {index} ({step.get('note', '')})"
