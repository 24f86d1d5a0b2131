"""Golden scheduling histories replayed against ``decide_run``, as Temporal replays workflows.

A history is a JSON file: a DAG (tasks, upstream, trigger rules, retries), the run's state and
a list of steps. Each step sets what the world did since the last decision (a try started or
ended, time passed), and records the decision ``decide_run`` made then: its transitions, the
run's new state and when it asked to be woken. Replaying applies each step's events, decides,
compares with the record and applies the decision's transitions as the state service would;
any change of decision is a failing diff.

``python -m tests.unit.scheduler.replay --record`` writes today's decisions into the files
(after a deliberate change of rules; review the diff).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.retries import RetryPolicy
from core.states import DagRunState, TaskInstanceState
from core.trigger_rules import TriggerRule
from scheduler.decisions import RunDecision, RunView, TaskInstanceView, TaskSpec, decide_run

HISTORIES = Path(__file__).parent / "histories"
#: The moment offsets in a history count from.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
#: The fields of a task instance an event may set; times are seconds after EPOCH.
_TIMES = ("lease_expires_at", "start_date", "next_retry_at")


def _at(offset: float | None) -> datetime | None:
    return None if offset is None else EPOCH + timedelta(seconds=offset)


def _offset(moment: datetime | None) -> float | None:
    return None if moment is None else (moment - EPOCH).total_seconds()


def _specs(dag: dict[str, Any]) -> dict[str, TaskSpec]:
    specs = {}
    for task_id, task in dag["tasks"].items():
        specs[task_id] = TaskSpec(
            task_id=task_id,
            upstream=frozenset(task.get("upstream", ())),
            trigger_rule=TriggerRule(task.get("trigger_rule", TriggerRule.ALL_SUCCESS)),
            retry=RetryPolicy(
                retry_delay=task.get("retry_delay", 0.0),
                exponential_backoff=task.get("exponential_backoff", False),
                max_retry_delay=task.get("max_retry_delay"),
            ),
            execution_timeout=task.get("execution_timeout"),
        )
    return specs


def _apply_event(views: dict[str, TaskInstanceView], event: dict[str, Any]) -> None:
    fields: dict[str, Any] = {}
    for name, value in event.items():
        if name == "ti":
            continue
        if name == "state":
            fields[name] = TaskInstanceState(value)
        elif name in _TIMES:
            fields[name] = _at(value)
        else:
            fields[name] = value
    views[event["ti"]] = replace(views[event["ti"]], **fields)


def _record(decision: RunDecision) -> dict[str, Any]:
    transitions = []
    for t in decision.transitions:
        item: dict[str, Any] = {"ti": t.task_id, "from": t.expected_state, "to": t.new_state}
        if t.outcome is not None:
            item["outcome"] = t.outcome.value
        if t.next_retry_at is not None:
            item["next_retry_at"] = _offset(t.next_retry_at)
        transitions.append(item)
    return {
        "transitions": transitions,
        "run_state": list(decision.run_state) if decision.run_state else None,
        "wake_at": _offset(decision.wake_at),
    }


def _apply_decision(
    run: RunView, views: dict[str, TaskInstanceView], decision: RunDecision
) -> RunView:
    for t in decision.transitions:
        view = views[t.task_id]
        ended = view.state != t.new_state and view.lease_expires_at is not None
        views[t.task_id] = replace(
            view,
            state=t.new_state,
            next_retry_at=t.next_retry_at,
            lease_expires_at=None if ended else view.lease_expires_at,
        )
    if decision.run_state is not None:
        run = replace(run, state=decision.run_state[1])
    return run


def replay(history: dict[str, Any]) -> list[dict[str, Any]]:
    """Today's decision at every step of ``history``."""
    specs = _specs(history["dag"])
    run = RunView(
        dag_id=history["dag"]["dag_id"],
        run_id="golden",
        state=DagRunState(history.get("run_state", DagRunState.QUEUED)),
    )
    views = {
        task_id: TaskInstanceView(
            task_id=task_id,
            state=TaskInstanceState.NONE,
            max_tries=task.get("retries", 0) + 1,
        )
        for task_id, task in history["dag"]["tasks"].items()
    }
    decisions = []
    for step in history["steps"]:
        for event in step.get("events", ()):
            _apply_event(views, event)
        decision = decide_run(
            run, specs, list(views.values()), EPOCH + timedelta(seconds=step.get("at", 0))
        )
        decisions.append(_record(decision))
        run = _apply_decision(run, views, decision)
    return decisions


def load(path: Path) -> dict[str, Any]:
    """One history file."""
    return dict(json.loads(path.read_text()))


def main() -> None:
    """Re-record the decisions of every history (or check them with --check)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true", help="write today's decisions")
    args = parser.parse_args()
    for path in sorted(HISTORIES.glob("*.json")):
        history = load(path)
        decisions = replay(history)
        changed = [s.get("decision") for s in history["steps"]] != decisions
        if args.record and changed:
            for step, decision in zip(history["steps"], decisions, strict=True):
                step["decision"] = decision
            path.write_text(json.dumps(history, indent=2) + "\n")
        verdict = "changed" if changed else "same"
        if args.record and changed:
            verdict = "re-recorded"
        print(f"{path.name}: {verdict}")


if __name__ == "__main__":
    main()
