"""The scheduler's pure core: from a run's snapshot, the transitions that follow.

:func:`decide_run` takes a run, its DAG's tasks and its task instances as plain values and
the current time, and returns compare-and-set transitions plus when to look again. It never
raises and never performs I/O; the service loop fetches snapshots, calls it, and sends the
result to the state service. ``tradewind.testing.run_dag`` drives it too, in process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.graph import dependency_order
from core.mapping import DEFAULT_MAX_MAP_LENGTH, LengthSpec, expansion_length
from core.retries import RetryPolicy, retry_identity
from core.runs import run_outcome
from core.setup_teardown import SetupTeardownGraph
from core.states import FINISHED, LEASED, WAITING, DagRunState, TaskInstanceState, TryOutcome
from core.tries import end_of_try
from core.trigger_rules import (
    STATE_OF_VERDICT,
    TriggerRule,
    Verdict,
    evaluate,
    setup_constraint,
)

_TI = TaskInstanceState

#: Extra time a try gets past its execution_timeout before the scheduler fails it (the
#: executor enforces the timeout itself; this catches an executor that could not).
TIMEOUT_GRACE = timedelta(seconds=30)


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What the scheduler needs of a task's definition."""

    task_id: str
    upstream: frozenset[str] = frozenset()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    execution_timeout: float | None = None
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    #: For a mapped task: where its number of map indexes comes from.
    map_length: LengthSpec | None = None
    #: For a task in a mapped task group: the group. Instance i of the task depends only on
    #: instance i of its upstream tasks in the same group.
    mapped_group: str = ""


@dataclass(frozen=True, kw_only=True)
class TaskInstanceView:
    """A task instance as the snapshot shows it."""

    task_id: str
    state: TaskInstanceState
    #: -1 for a task that is not mapped and for a mapped task not expanded yet.
    map_index: int = -1
    try_number: int = 0
    max_tries: int = 1
    priority_weight: int = 1
    pool: str = "default_pool"
    pool_slots: int = 1
    lease_expires_at: datetime | None = None
    start_date: datetime | None = None
    next_retry_at: datetime | None = None
    #: While deferred: when its trigger times out.
    trigger_timeout: datetime | None = None
    #: How many items its return value holds, recorded when a mapped task maps over it (for
    #: an instance of a mapped task: 1 when it returned a value, else 0).
    output_length: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunView:
    """A DAG run as the snapshot shows it."""

    dag_id: str
    run_id: str
    state: DagRunState
    generation: int = 0
    logical_date: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A compare-and-set on one task instance."""

    task_id: str
    map_index: int = -1
    expected_state: TaskInstanceState
    expected_try_number: int
    new_state: TaskInstanceState
    priority_weight: int = 1
    pool: str = "default_pool"
    pool_slots: int = 1
    next_retry_at: datetime | None = None
    #: For a try the scheduler ends: lease_expired or timed_out.
    outcome: TryOutcome | None = None
    reason: str = ""
    #: Expands a mapped task's unexpanded instance into this many map indexes (0: no).
    expand_to: int = 0


@dataclass(frozen=True)
class RunDecision:
    """What follows for one run."""

    transitions: Sequence[Transition] = ()
    #: (expected, new) run state. The state service applies a start before the task instance
    #: transitions and an end after them, only if every one of them held.
    run_state: tuple[DagRunState, DagRunState] | None = None
    #: When a timer (retry delay, lease expiry, timeout) next needs this run looked at.
    wake_at: datetime | None = None
    #: Why the run is failing, when it is.
    reason: str = ""


@dataclass
class _Plan:
    #: Each task's instances' states, by map index.
    states: dict[str, dict[int, TaskInstanceState]]
    transitions: list[Transition] = field(default_factory=list)
    wake_at: datetime | None = None
    #: Whether the decision moves the run forward (queues or expands something).
    progressing: bool = False

    def wake(self, moment: datetime) -> None:
        self.wake_at = moment if self.wake_at is None else min(self.wake_at, moment)

    def states_of(self, task_ids: Iterable[str]) -> list[TaskInstanceState]:
        """The states of every instance of these tasks (none for a task without instances)."""
        return [state for t in task_ids for state in self.states.get(t, {}).values()]

    def state_at(self, task_id: str, map_index: int) -> list[TaskInstanceState]:
        """The state of one map index of a task (its unexpanded instance's while it has one)."""
        states = self.states.get(task_id, {})
        for index in (map_index, -1):
            if index in states:
                return [states[index]]
        return []

    def move(self, ti: TaskInstanceView, new_state: TaskInstanceState, **fields: object) -> None:
        self.transitions.append(
            Transition(
                task_id=ti.task_id,
                map_index=ti.map_index,
                expected_state=ti.state,
                expected_try_number=ti.try_number,
                new_state=new_state,
                priority_weight=ti.priority_weight,
                pool=ti.pool,
                pool_slots=ti.pool_slots,
                **fields,  # type: ignore[arg-type]
            )
        )
        self.states[ti.task_id][ti.map_index] = new_state
        if new_state == _TI.QUEUED or fields.get("expand_to") or ti.state == _TI.DEFERRED:
            # A deferred instance moved on resumes in a new process: the run goes on.
            self.progressing = True


def _end_try(
    plan: _Plan,
    run: RunView,
    ti: TaskInstanceView,
    task: TaskSpec,
    now: datetime,
    outcome: TryOutcome,
    reason: str,
) -> None:
    end = end_of_try(
        state=ti.state,
        outcome=outcome,
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        retry=task.retry,
        ended_at=now,
        identity=retry_identity(run.dag_id, ti.task_id, run.run_id, ti.map_index),
    )
    plan.move(ti, end.state, next_retry_at=end.next_retry_at, outcome=outcome, reason=reason)


def _check_leased(
    plan: _Plan, run: RunView, ti: TaskInstanceView, task: TaskSpec, now: datetime
) -> None:
    if ti.lease_expires_at is not None and ti.lease_expires_at <= now:
        _end_try(plan, run, ti, task, now, TryOutcome.LEASE_EXPIRED, "executor lease expired")
        return
    if ti.lease_expires_at is not None:
        plan.wake(ti.lease_expires_at)
    if ti.state == _TI.RUNNING and task.execution_timeout and ti.start_date is not None:
        limit = ti.start_date + timedelta(seconds=task.execution_timeout) + TIMEOUT_GRACE
        if limit <= now:
            _end_try(plan, run, ti, task, now, TryOutcome.TIMED_OUT, "execution_timeout exceeded")
        else:
            plan.wake(limit)


def decide_run(
    run: RunView,
    tasks: Mapping[str, TaskSpec],
    task_instances: Iterable[TaskInstanceView],
    now: datetime,
    *,
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
) -> RunDecision:
    """The transitions that follow for one run, and when to look at it again.

    A queued run is started and, in the same decision, its first task instances are queued
    (the state service applies them only if the start holds).
    """
    if run.state == DagRunState.QUEUED:
        started = decide_running(run, tasks, task_instances, now, max_map_length=max_map_length)
        return RunDecision(
            transitions=started.transitions,
            run_state=(DagRunState.QUEUED, DagRunState.RUNNING),
            wake_at=started.wake_at,
        )
    if run.state != DagRunState.RUNNING:
        return RunDecision()
    return decide_running(run, tasks, task_instances, now, max_map_length=max_map_length)


def decide_running(
    run: RunView,
    tasks: Mapping[str, TaskSpec],
    task_instances: Iterable[TaskInstanceView],
    now: datetime,
    *,
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
) -> RunDecision:
    """The decision for a run that is running (or starts now)."""
    by_task: dict[str, list[TaskInstanceView]] = defaultdict(list)
    for view in task_instances:
        by_task[view.task_id].append(view)
    for views in by_task.values():
        views.sort(key=lambda view: view.map_index)
    plan = _Plan(states={t: {ti.map_index: ti.state for ti in vs} for t, vs in by_task.items()})
    graph = SetupTeardownGraph(tasks)
    for task_id in sorted(set(by_task) - set(tasks)):
        for orphan in by_task[task_id]:
            if orphan.state in WAITING:
                plan.move(orphan, _TI.REMOVED)  # the run's DAG version has no such task
    for task_id in dependency_order({t: spec.upstream for t, spec in tasks.items()}):
        task = tasks[task_id]
        views = by_task.get(task_id, [])
        if task.map_length is not None and views and views[0].map_index < 0:
            # Instances left from an earlier expansion wait for the next one.
            if views[0].state in WAITING:
                _decide_unexpanded(plan, views[0], task, tasks, graph, by_task, max_map_length)
            continue
        for ti in views:
            if ti.state in LEASED:
                _check_leased(plan, run, ti, task, now)
            elif ti.state in (_TI.UP_FOR_RETRY, _TI.UP_FOR_RESCHEDULE):
                if ti.next_retry_at is None or ti.next_retry_at <= now:
                    plan.move(ti, _TI.QUEUED)
                else:
                    plan.wake(ti.next_retry_at)
            elif ti.state == _TI.DEFERRED and ti.trigger_timeout is not None:
                if ti.trigger_timeout <= now:
                    # It resumes to fail in a new process, where its own rules (retries,
                    # a sensor's soft_fail) decide what the timeout means.
                    plan.move(ti, _TI.SCHEDULED, reason="trigger timeout")
                else:
                    plan.wake(ti.trigger_timeout)
            elif ti.state in WAITING:
                verdict = _trigger_verdict(plan, graph, task, tasks, ti.map_index)
                if verdict is Verdict.RUN:
                    plan.move(ti, _TI.QUEUED)
                elif verdict is not Verdict.WAIT:
                    plan.move(ti, STATE_OF_VERDICT[verdict])
    outcome = run_outcome(
        {task_id: list(states.values()) for task_id, states in plan.states.items()},
        graph.run_deciders(),
        progressing=plan.progressing,
    )
    return RunDecision(
        transitions=plan.transitions,
        run_state=(DagRunState.RUNNING, outcome) if outcome is not None else None,
        wake_at=plan.wake_at,
    )


def _trigger_verdict(
    plan: _Plan,
    graph: SetupTeardownGraph,
    task: TaskSpec,
    tasks: Mapping[str, TaskSpec],
    map_index: int = -1,
) -> Verdict:
    """Airflow's order: the setups a task depends on indirectly first, then its trigger rule.

    A mapped upstream task counts once per map index; in a mapped task group, instance i
    counts only instance i of the upstream tasks of its group.
    """
    if graph.has_setups:
        indirect = plan.states_of(graph.indirect_setups(task.task_id))
        if indirect:
            constraint = setup_constraint(indirect)
            if constraint is not Verdict.RUN:
                return constraint
    upstream: list[TaskInstanceState] = []
    for parent in task.upstream:
        per_index = map_index >= 0 and _same_mapped_group(task, tasks.get(parent))
        upstream += plan.state_at(parent, map_index) if per_index else plan.states_of([parent])
    setups = plan.states_of(graph.direct_setups(task.task_id))
    return evaluate(task.trigger_rule, upstream, setup_states=setups)


def _same_mapped_group(task: TaskSpec, other: TaskSpec | None) -> bool:
    """Whether two tasks are in the same mapped task group."""
    return bool(task.mapped_group) and other is not None and other.mapped_group == task.mapped_group


def _decide_unexpanded(
    plan: _Plan,
    ti: TaskInstanceView,
    task: TaskSpec,
    tasks: Mapping[str, TaskSpec],
    graph: SetupTeardownGraph,
    by_task: Mapping[str, Sequence[TaskInstanceView]],
    max_map_length: int,
) -> None:
    """Expand a mapped task once what it maps over is known (Airflow's expand_mapped_task).

    It expands as soon as its length is known (at once for literals), whatever its upstream
    tasks still do: each instance then waits for its trigger rule. No item makes it skipped;
    more than ``max_map_length`` fails it. Until the length is known its trigger rule decides:
    skipped or upstream_failed upstream tasks pass that on, and upstream tasks done without a
    value to map over make it upstream_failed.
    """
    assert task.map_length is not None
    outputs = {
        source: _output_length(by_task.get(source, ()))
        for source in task.map_length.upstream_tasks()
    }
    length = expansion_length(task.map_length, outputs)
    if length is None:
        verdict = _trigger_verdict(plan, graph, task, tasks)
        if verdict is Verdict.RUN:
            missing = sorted(source for source, found in outputs.items() if found is None)
            plan.move(
                ti,
                _TI.UPSTREAM_FAILED,
                reason=f"nothing to map over: {', '.join(missing)} pushed no return value",
            )
        elif verdict is not Verdict.WAIT:
            plan.move(ti, STATE_OF_VERDICT[verdict])
    elif length == 0:
        plan.move(ti, _TI.SKIPPED, reason="mapped over no items")
    elif length > max_map_length:
        plan.move(
            ti,
            _TI.FAILED,
            reason=f"expanding to {length} map indexes exceeds max_map_length {max_map_length}",
        )
    else:
        plan.move(ti, ti.state, expand_to=length)


def _output_length(instances: Sequence[TaskInstanceView]) -> int | None:
    """How many items a task's return value gives a task mapped over it, None if unknown.

    Known once every instance of the task has finished and one of them recorded its output.
    """
    if any(ti.state not in FINISHED for ti in instances):
        return None
    recorded = [ti.output_length for ti in instances if ti.output_length is not None]
    return sum(recorded) if recorded else None


def order_for_admission(
    items: Sequence[tuple[RunView, Transition]],
) -> list[tuple[RunView, Transition]]:
    """The order in which the state service should try a batch of transitions.

    Transitions that do not queue come first (they may free capacity). Queueing follows
    priority weight, highest first; at equal weight the DAGs take turns (the first candidate
    of every DAG before the second of any), so one big DAG cannot starve the others; then
    older runs go first.
    """
    others = [item for item in items if item[1].new_state != _TI.QUEUED]
    queueing = [item for item in items if item[1].new_state == _TI.QUEUED]
    queueing.sort(key=lambda item: (-item[1].priority_weight, _logical(item[0]), item[1].task_id))
    turn: dict[tuple[str, int], int] = {}
    keyed = []
    for run, transition in queueing:
        slot = (run.dag_id, transition.priority_weight)
        turn[slot] = turn.get(slot, 0) + 1
        keyed.append(((-transition.priority_weight, turn[slot], _logical(run)), run, transition))
    keyed.sort(key=lambda entry: entry[0])
    return others + [(run, transition) for _, run, transition in keyed]


def _logical(run: RunView) -> datetime:
    return run.logical_date or datetime.min.replace(tzinfo=UTC)


def within_capacity(
    ordered: Sequence[tuple[RunView, Transition]],
    open_slots: Mapping[str, int],
    dag_room: Mapping[str, int],
) -> tuple[list[tuple[RunView, Transition]], list[tuple[RunView, Transition]]]:
    """Split admission-ordered transitions into those worth sending and those held back.

    Queueing beyond a pool's open slots (negative: unlimited) or a DAG's room under
    max_active_tasks would only be refused, so those candidates wait for capacity instead of
    being sent on every pass. The state service still checks every admission itself.
    """
    slots = dict(open_slots)
    room = dict(dag_room)
    sent: list[tuple[RunView, Transition]] = []
    held: list[tuple[RunView, Transition]] = []
    for run, transition in ordered:
        if transition.new_state != _TI.QUEUED:
            sent.append((run, transition))
            continue
        pool_left = slots.get(transition.pool, 0)
        dag_left = room.get(run.dag_id, 1)
        if (0 <= pool_left < transition.pool_slots) or dag_left <= 0:
            held.append((run, transition))
            continue
        if pool_left >= 0:
            slots[transition.pool] = pool_left - transition.pool_slots
        room[run.dag_id] = dag_left - 1
        sent.append((run, transition))
    return sent, held
