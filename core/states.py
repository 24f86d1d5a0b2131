"""The states of task instances and runs, how a try ended, and the sets the rules use.

Each state is spelled here and in the proto enums only; everything else compares against these
members (they are strings, so stored and serialised values compare equal to them).
"""

from __future__ import annotations

from enum import StrEnum


class TaskInstanceState(StrEnum):
    """The state of a task instance, as in Airflow."""

    #: Created with its run, not yet considered by the scheduler.
    NONE = "none"
    #: Its dependencies are met; waiting for a concurrency slot.
    SCHEDULED = "scheduled"
    #: Admitted under every limit; waiting for an executor to lease it.
    QUEUED = "queued"
    #: Leased by an executor; a try is running.
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    #: A try failed and another try is due after the retry delay.
    UP_FOR_RETRY = "up_for_retry"
    #: An upstream task failed and the trigger rule cannot be met any more.
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    #: Its try handed its wait to a trigger (the triggerer runs it); holds no executor slot.
    DEFERRED = "deferred"
    #: A sensor in reschedule mode between pokes: its try waits, holding no slot, until due.
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    #: The task is no longer in the run's DAG version.
    REMOVED = "removed"
    #: Cleared while a try was running: waiting for that try to stop before it starts over.
    RESTARTING = "restarting"


class DagRunState(StrEnum):
    """The state of a DAG run, as in Airflow."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Whether the run has ended (success or failed)."""
        return self in RUN_FINISHED


class DagRunType(StrEnum):
    """Why a DAG run exists."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"
    ASSET_TRIGGERED = "asset_triggered"


class TryOutcome(StrEnum):
    """How one try of a task instance ended."""

    SUCCESS = "success"
    #: The task raised; it is retried while tries remain.
    FAILED = "failed"
    #: The task asked to be skipped.
    SKIPPED = "skipped"
    #: The task failed and asked not to be retried.
    FAILED_NO_RETRY = "failed_no_retry"
    #: The try ran past its execution_timeout; retried while tries remain.
    TIMED_OUT = "timed_out"
    #: The executor was stopping and terminated the try; retried while tries remain.
    TERMINATED = "terminated"
    #: The executor's lease expired before a result arrived (decided by the scheduler).
    LEASE_EXPIRED = "lease_expired"
    #: The executor stopped the try because a person cleared or marked the task instance.
    STOPPED = "stopped"
    #: The task deferred to a trigger; the try goes on in a new process once the trigger fires.
    DEFERRED = "deferred"
    #: A reschedule-mode sensor's poke found nothing yet; the try goes on when the next is due.
    RESCHEDULED = "rescheduled"


_TI = TaskInstanceState

#: Final for the run: the task instance will not change again by itself.
FINISHED: frozenset[TaskInstanceState] = frozenset(
    {_TI.SUCCESS, _TI.FAILED, _TI.SKIPPED, _TI.UPSTREAM_FAILED, _TI.REMOVED}
)
#: Waiting for the trigger rule (none) or for capacity (scheduled).
WAITING: frozenset[TaskInstanceState] = frozenset({_TI.NONE, _TI.SCHEDULED})
#: A try holds an executor lease.
LEASED: frozenset[TaskInstanceState] = frozenset({_TI.RUNNING, _TI.RESTARTING})
#: Takes pool slots and counts against max_active_tasks.
ACTIVE: frozenset[TaskInstanceState] = frozenset({_TI.QUEUED, _TI.RUNNING, _TI.RESTARTING})
#: Waiting between the processes of one try (deferred to a trigger, or between pokes).
SUSPENDED: frozenset[TaskInstanceState] = frozenset({_TI.DEFERRED, _TI.UP_FOR_RESCHEDULE})
#: Fail a run when a leaf task ends in one of them.
FAILURES: frozenset[TaskInstanceState] = frozenset({_TI.FAILED, _TI.UPSTREAM_FAILED})
#: What a person may mark a task instance as.
MARKABLE: frozenset[TaskInstanceState] = frozenset({_TI.SUCCESS, _TI.FAILED, _TI.SKIPPED})

#: Runs in which a scheduler has decisions to make.
RUN_ACTIVE: frozenset[DagRunState] = frozenset({DagRunState.QUEUED, DagRunState.RUNNING})
RUN_FINISHED: frozenset[DagRunState] = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
#: What a person may set a run to (queued means: run it again).
RUN_SETTABLE: frozenset[DagRunState] = frozenset(
    {DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.QUEUED}
)

#: Outcomes that end a try's process but not the try, and the state the try then waits in.
SUSPENDING_OUTCOMES: dict[TryOutcome, TaskInstanceState] = {
    TryOutcome.DEFERRED: _TI.DEFERRED,
    TryOutcome.RESCHEDULED: _TI.UP_FOR_RESCHEDULE,
}
#: Outcomes an executor reports; the scheduler decides lease_expired itself.
REPORTABLE_OUTCOMES: frozenset[TryOutcome] = frozenset(TryOutcome) - {TryOutcome.LEASE_EXPIRED}


def frees_capacity(previous: str, new: str) -> bool:
    """Whether a task instance's move from ``previous`` to ``new`` gives back pool slots."""
    return previous in ACTIVE and new not in ACTIVE
