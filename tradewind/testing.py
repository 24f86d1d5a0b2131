"""Test your DAGs without any service: ``run_dag`` runs one DAG run in this process.

It is Tradewind's ``dag.test()``: tasks run one after the other in topological order, with
Airflow's trigger rules, retries (immediately, without the retry delay), branch and
short-circuit skips, and XComs, Variables and Connections kept in memory::

    from tradewind.testing import run_dag

    def test_etl():
        result = run_dag(etl_dag, conf={"limit": 10}, variables={"region": "eu"})
        assert result.state == "success"
        assert result.xcom("load") == 10

It is for people testing their DAGs; the scheduler and executor do not use it. Tasks run in
the calling process and thread, so ``execution_timeout`` is not enforced and a task that
hangs hangs the test.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradewind.sdk.connection import Connection
from tradewind.sdk.context import build_context
from tradewind.sdk.dag import DAG
from tradewind.sdk.execution import TaskOutcome, TaskResult, execute_task
from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.params import resolve_params
from tradewind.sdk.runtime import use_runtime
from tradewind.sdk.trigger_rules import TaskInstanceState, Verdict, evaluate
from tradewind.sdk.xcom_arg import XCOM_RETURN_KEY

__all__ = ["DagTestResult", "run_dag"]

logger = logging.getLogger("tradewind.testing")

_STATE_OF_OUTCOME = {
    TaskOutcome.SUCCESS: TaskInstanceState.SUCCESS,
    TaskOutcome.SKIPPED: TaskInstanceState.SKIPPED,
    TaskOutcome.FAILED: TaskInstanceState.FAILED,
    TaskOutcome.FAILED_NO_RETRY: TaskInstanceState.FAILED,
}


@dataclass
class DagTestResult:
    """What ``run_dag`` observed."""

    dag_id: str
    run_id: str
    #: "success" or "failed", by Airflow's rule: failed when a leaf task failed or
    #: upstream_failed.
    state: str
    #: The final state of every task.
    task_states: dict[str, TaskInstanceState]
    #: The XComs pushed, by task id then key.
    xcoms: dict[str, dict[str, Any]]
    #: The result of each try of each task that ran.
    tries: dict[str, list[TaskResult]] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = XCOM_RETURN_KEY, default: Any = None) -> Any:
        """An XCom pushed during the run.

        Args:
            task_id: the task.
            key: the key ("return_value" by default).
            default: returned when there is no such XCom.

        Returns:
            The value.

        """
        return self.xcoms.get(task_id, {}).get(key, default)

    @property
    def failed_task_ids(self) -> list[str]:
        """The tasks that ended failed, sorted."""
        return sorted(t for t, s in self.task_states.items() if s is TaskInstanceState.FAILED)


def run_dag(
    dag: DAG,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    variables: Mapping[str, str] | None = None,
    connections: Mapping[str, Connection] | None = None,
) -> DagTestResult:
    """Run ``dag`` once, in this process, and report every task's state and XComs.

    Args:
        dag: the DAG.
        conf: the run's conf (overrides the params' defaults).
        logical_date: the run's logical date and data interval (now by default).
        run_id: the run's id ("manual__<logical date>" by default).
        variables: the Variables tasks can read, by key.
        connections: the Connections tasks can read, by conn_id.

    Returns:
        The run's outcome.

    Raises:
        DagDefinitionError: when the DAG is invalid.
        ParamValidationError: when ``conf`` breaks a param's schema.

    """
    ordered = dag.topological_sort()
    run_conf = dict(conf or {})
    resolve_params(dag.params, run_conf)
    logical = logical_date or datetime.now(UTC)
    run = run_id or f"manual__{logical.isoformat()}"
    store = InMemoryStore(variables=dict(variables or {}), connections=dict(connections or {}))
    states = dict.fromkeys(dag.task_dict, TaskInstanceState.NONE)
    tries: dict[str, list[TaskResult]] = {}
    for task in ordered:
        if states[task.task_id] is not TaskInstanceState.NONE:
            continue  # skipped by a branch or a short circuit
        upstream = [states[task_id] for task_id in task.upstream_task_ids]
        verdict = evaluate(task.trigger_rule, upstream)
        if verdict is not Verdict.RUN:
            # In topological order every upstream task has ended, so the verdict is final.
            states[task.task_id] = (
                TaskInstanceState.UPSTREAM_FAILED
                if verdict is Verdict.UPSTREAM_FAILED
                else TaskInstanceState.SKIPPED
            )
            continue
        runtime = store.runtime_for(task.task_id)
        results = tries.setdefault(task.task_id, [])
        for try_number in range(1, task.retries + 2):
            store.xcoms.pop(task.task_id, None)  # each try starts without XComs, as in Airflow
            context = build_context(
                task=task, run_id=run, logical_date=logical, conf=run_conf, try_number=try_number
            )
            with use_runtime(runtime):
                result = execute_task(task, context, will_retry=try_number <= task.retries)
            results.append(result)
            if not result.will_retry:
                break
        for key, value in result.xcoms.items():
            runtime.push_xcom(key, value)
        states[task.task_id] = _STATE_OF_OUTCOME[result.outcome]
        for skipped in result.skip_task_ids:
            if states[skipped] is TaskInstanceState.NONE:
                states[skipped] = TaskInstanceState.SKIPPED
    failed = {TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED}
    state = "failed" if any(states[leaf.task_id] in failed for leaf in dag.leaves) else "success"
    _run_dag_callbacks(dag, state, store, run, logical, run_conf)
    return DagTestResult(
        dag_id=dag.dag_id,
        run_id=run,
        state=state,
        task_states=states,
        xcoms={task_id: dict(pushed) for task_id, pushed in store.xcoms.items()},
        tries=tries,
    )


def _run_dag_callbacks(
    dag: DAG,
    state: str,
    store: InMemoryStore,
    run_id: str,
    logical_date: datetime,
    conf: Mapping[str, Any],
) -> None:
    callbacks = dag.on_success_callback if state == "success" else dag.on_failure_callback
    if not callbacks or not dag.tasks:
        return
    last = dag.topological_sort()[-1]
    context = build_context(task=last, run_id=run_id, logical_date=logical_date, conf=conf)
    context["reason"] = "success" if state == "success" else "task_failure"
    with use_runtime(store.runtime_for(last.task_id)):
        for callback in callbacks:
            try:
                callback(context)
            except Exception:
                logger.exception("DAG callback %r failed", callback)
