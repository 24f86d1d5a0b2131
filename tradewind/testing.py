"""Test your DAGs without any service: ``run_dag`` runs one DAG run in this process.

It is Tradewind's ``dag.test()``: the scheduler's own decisions (``decide_run``, with Airflow's
trigger rules, retries and the run-outcome rule) drive the run, and the tasks they queue run
one after the other in this process, with branch and short-circuit skips, retries (at once,
without the retry delay) and XComs, Variables and Connections kept in memory::

    from tradewind.testing import run_dag

    def test_etl():
        result = run_dag(etl_dag, conf={"limit": 10}, variables={"region": "eu"})
        assert result.state == "success"
        assert result.xcom("load") == 10

A try that defers has its trigger run here until it fires (or its deferral times out), then
resumes; a reschedule-mode sensor's try waits for its next poke and pokes again. Both go on in
the same try, as they do in the services.

It is for people testing their DAGs. Tasks run in the calling process and thread, so
``execution_timeout`` is not enforced and a task that hangs hangs the test.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from core.mapping import LengthSpec, UnmappableValue, output_length
from core.retries import RetryPolicy, retry_identity
from core.runs import run_id_for
from core.states import DagRunState, DagRunType, TaskInstanceState, TryOutcome
from core.tries import end_of_try, skipped_by
from scheduler.decisions import RunView, TaskInstanceView, TaskSpec, decide_run
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.connection import Connection
from tradewind.sdk.context import Context, build_context
from tradewind.sdk.dag import DAG
from tradewind.sdk.execution import TaskError, TaskResult
from tradewind.sdk.inline_triggers import Pokes, run_to_end
from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.params import resolve_params
from tradewind.sdk.runtime import use_runtime
from tradewind.sdk.xcom_arg import XCOM_RETURN_KEY

__all__ = ["DagTestResult", "RunObserver", "run_dag"]

logger = logging.getLogger("tradewind.testing")


@dataclass
class DagTestResult:
    """What ``run_dag`` observed."""

    dag_id: str
    run_id: str
    #: success or failed, by Airflow's rule: failed when a leaf task failed or upstream_failed.
    state: DagRunState
    #: The final state of every task (for an expanded mapped task, see ``map_states``: this
    #: is its instances' common state, or the first of failed, upstream_failed, success).
    task_states: dict[str, TaskInstanceState]
    #: The XComs pushed by tasks that are not mapped, by task id then key.
    xcoms: dict[str, dict[str, Any]]
    #: The result of each try of each task that ran (a mapped task's in map index order).
    tries: dict[str, list[TaskResult]] = field(default_factory=dict)
    #: The final state of each instance of each expanded mapped task, in map index order.
    map_states: dict[str, list[TaskInstanceState]] = field(default_factory=dict)
    #: The XComs pushed by mapped task instances, by (task id, map index) then key.
    mapped_xcoms: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def xcom(
        self,
        task_id: str,
        key: str = XCOM_RETURN_KEY,
        default: Any = None,
        map_index: int | None = None,
    ) -> Any:
        """An XCom pushed during the run.

        Args:
            task_id: the task.
            key: the key ("return_value" by default).
            default: returned when there is no such XCom.
            map_index: for a mapped task, one instance's XCom; None gives the list of its
                instances' values in map index order (those that pushed one).

        Returns:
            The value.

        """
        if task_id in self.map_states:
            found = {
                index: pushed[key]
                for (task, index), pushed in sorted(self.mapped_xcoms.items())
                if task == task_id and key in pushed
            }
            if map_index is not None:
                return found.get(map_index, default)
            return list(found.values())
        return self.xcoms.get(task_id, {}).get(key, default)

    @property
    def failed_task_ids(self) -> list[str]:
        """The tasks that ended failed, sorted."""
        return sorted(t for t, s in self.task_states.items() if s == TaskInstanceState.FAILED)


class RunObserver(Protocol):
    """Told as each try of a ``run_dag`` run starts and ends (``tradewind dags test`` prints)."""

    def try_started(self, task_id: str, try_number: int) -> None:
        """A try is about to run (``task_id`` is ``task[7]`` for a mapped instance)."""

    def try_ended(
        self, task_id: str, try_number: int, result: TaskResult, state: TaskInstanceState
    ) -> None:
        """A try ended; ``state`` is the task instance's state after it."""


def run_dag(
    dag: DAG,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    variables: Mapping[str, str] | None = None,
    connections: Mapping[str, Connection] | None = None,
    observer: RunObserver | None = None,
    mark_success_pattern: str | re.Pattern[str] | None = None,
    run_type: DagRunType | str = DagRunType.MANUAL,
    data_interval: tuple[datetime, datetime] | None = None,
) -> DagTestResult:
    """Run ``dag`` once, in this process, and report every task's state and XComs.

    Args:
        dag: the DAG.
        conf: the run's conf (overrides the params' defaults).
        logical_date: the run's logical date and data interval (now by default).
        run_id: the run's id ("manual__<logical date>" by default).
        variables: the Variables tasks can read, by key.
        connections: the Connections tasks can read, by conn_id.
        observer: told as each try starts and ends.
        mark_success_pattern: tasks whose id matches it (``re.search``) are marked success
            instead of run, as Airflow's ``dag.test(mark_success_pattern=...)``.
        run_type: "manual" (the default), "scheduled" or "backfill", as tasks see it (a
            LatestOnlyOperator skips only in scheduled and backfill runs).
        data_interval: the run's data interval (start, end); by default the one the DAG's
            timetable infers for a manual run (the logical date both ways for the default
            trigger timetables).

    Returns:
        The run's outcome.

    Raises:
        DagDefinitionError: when the DAG is invalid.
        ParamValidationError: when ``conf`` breaks a param's schema.

    """
    dag.topological_sort()  # raises DagDefinitionError for a DAG that is not valid
    run_conf = dict(conf or {})
    resolve_params(dag.params, run_conf)
    logical = logical_date or datetime.now(UTC)
    if data_interval is None:
        inferred = dag.timetable.infer_manual_data_interval(run_after=logical)
        data_interval = (inferred.start, inferred.end)
    start, end = data_interval
    facts = _RunFacts(
        run_type=DagRunType(run_type),
        logical_date=logical,
        data_interval_start=start,
        data_interval_end=end,
        conf=run_conf,
    )
    run = RunView(
        dag_id=dag.dag_id,
        run_id=run_id or run_id_for(facts.run_type, logical),
        state=DagRunState.RUNNING,
        logical_date=logical,
    )
    specs = {task_id: task_spec(task) for task_id, task in dag.task_dict.items()}
    views: dict[_Key, TaskInstanceView] = {
        (task_id, -1): TaskInstanceView(
            task_id=task_id, state=TaskInstanceState.NONE, max_tries=task.retries + 1
        )
        for task_id, task in dag.task_dict.items()
    }
    store = InMemoryStore(variables=dict(variables or {}), connections=dict(connections or {}))
    tries: dict[str, list[TaskResult]] = {}
    pokes: dict[_Key, Pokes] = {}
    marked = re.compile(mark_success_pattern) if mark_success_pattern is not None else None
    mapped_over = frozenset().union(
        *(spec.map_length.upstream_tasks() for spec in specs.values() if spec.map_length)
    )
    state: DagRunState | None = None
    while state is None:
        decision = decide_run(run, specs, list(views.values()), datetime.now(UTC))
        queued = []
        for transition in decision.transitions:
            key = (transition.task_id, transition.map_index)
            if transition.expand_to:
                _expand(views, key, transition.expand_to)
                continue
            views[key] = replace(views[key], state=transition.new_state, next_retry_at=None)
            if transition.new_state == TaskInstanceState.QUEUED:
                queued.append(key)
        for key in queued:
            if marked is not None and marked.search(key[0]):
                views[key] = replace(views[key], state=TaskInstanceState.SUCCESS)
            else:
                pokes_of = pokes.setdefault(key, Pokes())
                _run_try(dag, run, facts, views, key, store, tries, observer, mapped_over, pokes_of)
        if decision.run_state is not None:
            state = decision.run_state[1]
        elif not decision.transitions:
            state = DagRunState.FAILED  # nothing moves any more (cannot come from a valid DAG)
    _run_dag_callbacks(dag, state, store, run.run_id, facts)
    map_states: dict[str, list[TaskInstanceState]] = {}
    for (task_id, index), view in sorted(views.items()):
        if index >= 0:
            map_states.setdefault(task_id, []).append(view.state)
    return DagTestResult(
        dag_id=dag.dag_id,
        run_id=run.run_id,
        state=state,
        task_states={
            task_id: (
                _summary(map_states[task_id])
                if task_id in map_states
                else views[(task_id, -1)].state
            )
            for task_id in dag.task_dict
        },
        xcoms={task_id: dict(pushed) for task_id, pushed in store.xcoms.items()},
        tries=tries,
        map_states=map_states,
        mapped_xcoms={key: dict(pushed) for key, pushed in store.mapped_xcoms.items()},
    )


#: A task instance in ``run_dag``: (task id, map index).
_Key = tuple[str, int]


def _expand(views: dict[_Key, TaskInstanceView], key: _Key, length: int) -> None:
    """Expand a mapped task's unexpanded instance, as the state service does."""
    unexpanded = views.pop(key)
    for index in range(length):
        views[(key[0], index)] = replace(unexpanded, map_index=index)


def _summary(states: list[TaskInstanceState]) -> TaskInstanceState:
    """One state for a mapped task's instances: their common one, else the most telling."""
    if len(set(states)) == 1:
        return states[0]
    for telling in (TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED):
        if telling in states:
            return telling
    return TaskInstanceState.SUCCESS


def task_spec(task: BaseOperator) -> TaskSpec:
    """What the scheduler decides on, read from a task as written (as from its serialised form).

    Args:
        task: the task, in its DAG.

    Returns:
        Its spec.

    """
    return TaskSpec(
        task_id=task.task_id,
        upstream=frozenset(task.upstream_task_ids),
        trigger_rule=task.trigger_rule,
        retry=RetryPolicy(
            retry_delay=task.retry_delay.total_seconds(),
            exponential_backoff=task.retry_exponential_backoff,
            max_retry_delay=(
                task.max_retry_delay.total_seconds() if task.max_retry_delay is not None else None
            ),
        ),
        execution_timeout=(
            task.execution_timeout.total_seconds() if task.execution_timeout is not None else None
        ),
        is_setup=task.is_setup,
        is_teardown=task.is_teardown,
        on_failure_fail_dagrun=task.on_failure_fail_dagrun,
        map_length=map_length_spec(task),
        mapped_group=_group_id(task),
    )


def _group_id(task: BaseOperator) -> str:
    group = task.mapped_task_group()
    return (group.group_id or "") if group is not None else ""


def map_length_spec(task: BaseOperator) -> LengthSpec | None:
    """Where a mapped task's number of map indexes comes from; None for an unmapped task."""
    return task.map_length_spec() if task.is_mapped else None


@dataclass(frozen=True)
class _RunFacts:
    """What every task of the run sees of it in its context."""

    run_type: DagRunType
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    conf: Mapping[str, Any]

    def context(
        self,
        task: BaseOperator,
        run_id: str,
        try_number: int = 1,
        map_index: int = -1,
        pokes: Pokes | None = None,
    ) -> Context:
        """The context of one try of ``task`` (one of its map indexes) in this run."""
        pokes = pokes or Pokes()
        return build_context(
            task=task,
            run_id=run_id,
            logical_date=self.logical_date,
            data_interval_start=self.data_interval_start,
            data_interval_end=self.data_interval_end,
            conf=self.conf,
            try_number=try_number,
            run_type=self.run_type.value,
            map_index=map_index,
            task_reschedule_count=pokes.reschedules,
            first_reschedule_date=pokes.first_started_at,
        )


def _run_try(
    dag: DAG,
    run: RunView,
    facts: _RunFacts,
    views: dict[_Key, TaskInstanceView],
    key: _Key,
    store: InMemoryStore,
    tries: dict[str, list[TaskResult]],
    observer: RunObserver | None,
    mapped_over: frozenset[str],
    pokes: Pokes,
) -> None:
    """Run the next try of a queued task instance and apply its end, as the state service does."""
    task_id, map_index = key
    task = dag.task_dict[task_id]
    view = views[key]
    try_number = view.try_number + 1
    runtime = store.runtime_for(task_id, map_index)
    store.pushed(task_id, map_index).clear()  # each try starts without XComs, as in Airflow
    name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
    if observer is not None:
        observer.try_started(name, try_number)
    with use_runtime(runtime):
        result = run_to_end(
            task,
            lambda: facts.context(task, run.run_id, try_number, map_index, pokes),
            will_retry=try_number < view.max_tries,
            pokes=pokes,
        )
    for key_name, value in result.xcoms.items():
        runtime.push_xcom(key_name, value)
    output = None
    if result.outcome == TryOutcome.SUCCESS and task_id in mapped_over:
        result, output = _output_length(result, map_index)
    tries.setdefault(task_id, []).append(result)
    end = end_of_try(
        state=TaskInstanceState.RUNNING,
        outcome=result.outcome,
        try_number=try_number,
        max_tries=view.max_tries,
        retry=RetryPolicy(retry_delay=0.0),
        ended_at=datetime.now(UTC),
        identity=retry_identity(run.dag_id, task_id, run.run_id, map_index),
    )
    views[key] = replace(view, state=end.state, try_number=try_number, output_length=output)
    if observer is not None:
        observer.try_ended(name, try_number, result, end.state)
    for other, other_view in list(views.items()) if result.skip_task_ids else ():
        if skipped_by(end.state, result.skip_task_ids, {other[0]: other_view.state}):
            views[other] = replace(other_view, state=TaskInstanceState.SKIPPED)


def _output_length(result: TaskResult, map_index: int) -> tuple[TaskResult, int | None]:
    """Record what a successful try gives mapped tasks, or fail it, as the state service does."""
    pushed = XCOM_RETURN_KEY in result.xcoms
    try:
        length = output_length(
            result.xcoms.get(XCOM_RETURN_KEY), pushed=pushed, mapped_instance=map_index >= 0
        )
    except UnmappableValue as error:
        failure = TaskError(type=error.airflow_name, message=str(error), traceback="")
        return replace(result, outcome=TryOutcome.FAILED, error=failure), None
    return result, length


def _run_dag_callbacks(
    dag: DAG,
    state: DagRunState,
    store: InMemoryStore,
    run_id: str,
    facts: _RunFacts,
) -> None:
    succeeded = state == DagRunState.SUCCESS
    callbacks = dag.on_success_callback if succeeded else dag.on_failure_callback
    if not callbacks or not dag.tasks:
        return
    last = dag.topological_sort()[-1]
    context = facts.context(last, run_id)
    context["reason"] = "success" if succeeded else "task_failure"
    with use_runtime(store.runtime_for(last.task_id)):
        for callback in callbacks:
            try:
                callback(context)
            except Exception:
                logger.exception("DAG callback %r failed", callback)
