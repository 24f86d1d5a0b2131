"""The scheduler's pure core: from a run's snapshot, the transitions that follow.

:func:`decide_run` takes a run, its DAG's tasks and its task instances as plain values and
the current time, and returns compare-and-set transitions plus when to look again. It never
raises and never performs I/O; the service loop fetches snapshots, calls it, and sends the
result to the state service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tradewind.sdk.retries import retry_delay_seconds
from tradewind.sdk.trigger_rules import Verdict, evaluate

NONE = "none"
SCHEDULED = "scheduled"
QUEUED = "queued"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
UP_FOR_RETRY = "up_for_retry"
UPSTREAM_FAILED = "upstream_failed"
SKIPPED = "skipped"
REMOVED = "removed"
RESTARTING = "restarting"
DEFERRED = "deferred"

FINISHED = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED, REMOVED})
#: States from which a task instance waits for its trigger rule.
WAITING = frozenset({NONE, SCHEDULED})
RUN_QUEUED = "queued"
RUN_RUNNING = "running"
RUN_SUCCESS = "success"
RUN_FAILED = "failed"

#: Extra time a try gets past its execution_timeout before the scheduler fails it (the
#: executor enforces the timeout itself; this catches an executor that could not).
TIMEOUT_GRACE = timedelta(seconds=30)


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What the scheduler needs of a task's definition."""

    task_id: str
    upstream: frozenset[str] = frozenset()
    trigger_rule: str = "all_success"
    retry_delay: float = 300.0
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = None
    execution_timeout: float | None = None


@dataclass(frozen=True, kw_only=True)
class TaskInstanceView:
    """A task instance as the snapshot shows it."""

    task_id: str
    state: str
    try_number: int = 0
    max_tries: int = 1
    priority_weight: int = 1
    pool: str = "default_pool"
    pool_slots: int = 1
    lease_expires_at: datetime | None = None
    start_date: datetime | None = None
    next_retry_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RunView:
    """A DAG run as the snapshot shows it."""

    dag_id: str
    run_id: str
    state: str
    generation: int = 0
    logical_date: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A compare-and-set on one task instance."""

    task_id: str
    expected_state: str
    expected_try_number: int
    new_state: str
    priority_weight: int = 1
    pool: str = "default_pool"
    pool_slots: int = 1
    next_retry_at: datetime | None = None
    #: For a try the scheduler ends: "lease_expired" or "timed_out".
    outcome: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RunDecision:
    """What follows for one run."""

    transitions: Sequence[Transition] = ()
    #: (expected, new) run state, applied after the task instance transitions.
    run_state: tuple[str, str] | None = None
    #: When a timer (retry delay, lease expiry, timeout) next needs this run looked at.
    wake_at: datetime | None = None
    #: Why the run is failing, when it is.
    reason: str = ""


def _topological(tasks: Mapping[str, TaskSpec]) -> list[str]:
    """Task ids with every task after its upstream tasks (Kahn's algorithm, ties by id)."""
    waiting = {t: len(spec.upstream & tasks.keys()) for t, spec in tasks.items()}
    downstream: dict[str, list[str]] = {t: [] for t in tasks}
    for task_id, spec in tasks.items():
        for upstream in spec.upstream & tasks.keys():
            downstream[upstream].append(task_id)
    ready = sorted(t for t, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        task_id = ready.pop()
        order.append(task_id)
        for child in downstream[task_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    # A cycle cannot come from a validated DAG; keep its tasks, in id order, at the end.
    return order + sorted(set(tasks) - set(order))


@dataclass
class _Plan:
    states: dict[str, str]
    transitions: list[Transition] = field(default_factory=list)
    wake_at: datetime | None = None

    def wake(self, moment: datetime) -> None:
        self.wake_at = moment if self.wake_at is None else min(self.wake_at, moment)

    def move(self, ti: TaskInstanceView, new_state: str, **fields: object) -> None:
        self.transitions.append(
            Transition(
                task_id=ti.task_id,
                expected_state=ti.state,
                expected_try_number=ti.try_number,
                new_state=new_state,
                priority_weight=ti.priority_weight,
                pool=ti.pool,
                pool_slots=ti.pool_slots,
                **fields,  # type: ignore[arg-type]
            )
        )
        self.states[ti.task_id] = new_state


def _end_try_state(
    ti: TaskInstanceView, task: TaskSpec | None, now: datetime, identity: str
) -> tuple[str, datetime | None]:
    if ti.state == RESTARTING:
        return NONE, None
    if ti.try_number >= ti.max_tries:
        return FAILED, None
    delay = 0.0
    if task is not None:
        delay = retry_delay_seconds(
            try_number=ti.try_number,
            retry_delay=task.retry_delay,
            exponential_backoff=task.retry_exponential_backoff,
            max_retry_delay=task.max_retry_delay,
            identity=identity,
        )
    return UP_FOR_RETRY, now + timedelta(seconds=delay)


def _check_leased(
    plan: _Plan, run: RunView, ti: TaskInstanceView, task: TaskSpec | None, now: datetime
) -> None:
    identity = f"{run.dag_id}#{ti.task_id}#{run.run_id}"
    if ti.lease_expires_at is not None and ti.lease_expires_at <= now:
        state, retry_at = _end_try_state(ti, task, now, identity)
        plan.move(
            ti,
            state,
            next_retry_at=retry_at,
            outcome="lease_expired",
            reason="executor lease expired",
        )
        return
    if ti.lease_expires_at is not None:
        plan.wake(ti.lease_expires_at)
    if (
        ti.state == RUNNING
        and task is not None
        and task.execution_timeout
        and ti.start_date is not None
    ):
        limit = ti.start_date + timedelta(seconds=task.execution_timeout) + TIMEOUT_GRACE
        if limit <= now:
            state, retry_at = _end_try_state(ti, task, now, identity)
            plan.move(
                ti,
                state,
                next_retry_at=retry_at,
                outcome="timed_out",
                reason="execution_timeout exceeded",
            )
        else:
            plan.wake(limit)


def decide_run(
    run: RunView,
    tasks: Mapping[str, TaskSpec],
    task_instances: Mapping[str, TaskInstanceView],
    now: datetime,
) -> RunDecision:
    """The transitions that follow for one run, and when to look at it again."""
    if run.state == RUN_QUEUED:
        return RunDecision(run_state=(RUN_QUEUED, RUN_RUNNING))
    if run.state != RUN_RUNNING:
        return RunDecision()
    plan = _Plan(states={t: ti.state for t, ti in task_instances.items()})
    for task_id, orphan in sorted(task_instances.items()):
        if task_id not in tasks and orphan.state in WAITING:
            plan.move(orphan, REMOVED)  # the run's DAG version has no such task
    for task_id in _topological(tasks):
        if task_id not in task_instances:
            continue
        ti = task_instances[task_id]
        task = tasks[task_id]
        if ti.state in (RUNNING, RESTARTING):
            _check_leased(plan, run, ti, task, now)
        elif ti.state == UP_FOR_RETRY:
            if ti.next_retry_at is None or ti.next_retry_at <= now:
                plan.move(ti, QUEUED)
            else:
                plan.wake(ti.next_retry_at)
        elif ti.state in WAITING:
            upstream = [plan.states.get(u, REMOVED) for u in task.upstream if u in plan.states]
            verdict = evaluate(task.trigger_rule, upstream)
            if verdict is Verdict.RUN:
                plan.move(ti, QUEUED)
            elif verdict is Verdict.SKIP:
                plan.move(ti, SKIPPED)
            elif verdict is Verdict.UPSTREAM_FAILED:
                plan.move(ti, UPSTREAM_FAILED)
    return RunDecision(
        transitions=plan.transitions,
        run_state=_run_outcome(tasks, plan.states, plan.transitions),
        wake_at=plan.wake_at,
    )


def _run_outcome(
    tasks: Mapping[str, TaskSpec], states: Mapping[str, str], transitions: Sequence[Transition]
) -> tuple[str, str] | None:
    """Airflow's rule: once every task instance is finished, failed leaves fail the run."""
    queued_now = any(t.new_state == QUEUED for t in transitions)
    unfinished = [t for t, s in states.items() if s not in FINISHED]
    if unfinished:
        stuck = not queued_now and all(states[t] in WAITING for t in unfinished)
        return (RUN_RUNNING, RUN_FAILED) if stuck else None
    downstream = {u for spec in tasks.values() for u in spec.upstream}
    leaves = [t for t in states if t not in downstream] or list(states)
    if any(states[t] in (FAILED, UPSTREAM_FAILED) for t in leaves):
        return RUN_RUNNING, RUN_FAILED
    return RUN_RUNNING, RUN_SUCCESS


def order_for_admission(
    items: Sequence[tuple[RunView, Transition]],
) -> list[tuple[RunView, Transition]]:
    """The order in which the state service should try a batch of transitions.

    Transitions that do not queue come first (they may free capacity). Queueing follows
    priority weight, highest first; at equal weight the DAGs take turns (the first candidate
    of every DAG before the second of any), so one big DAG cannot starve the others; then
    older runs go first.
    """
    others = [item for item in items if item[1].new_state != QUEUED]
    queueing = [item for item in items if item[1].new_state == QUEUED]
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
        if transition.new_state != QUEUED:
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
