"""The exceptions DAG authors raise and catch, each also exported under its Airflow name.

``TradewindException`` is the base of all of them. Tasks raise ``TaskSkipped`` to end as
skipped and ``TaskFailedNoRetry`` to fail without retrying; building an invalid DAG raises a
``DagDefinitionError`` that names the DAG, the task and the problem.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class TradewindException(Exception):
    """Base class of every Tradewind SDK error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class DagDefinitionError(TradewindException, ValueError):
    """A DAG or one of its tasks is defined wrongly.

    Attributes:
        problem: what is wrong, without the DAG and task names.
        dag_id: the DAG concerned, or None when not known yet.
        task_id: the task concerned, or None when the problem is the DAG's.

    """

    def __init__(self, problem: str, *, dag_id: str | None = None, task_id: str | None = None):
        self.problem = problem
        self.dag_id = dag_id
        self.task_id = task_id
        where = []
        if dag_id is not None:
            where.append(f"DAG {dag_id!r}")
        if task_id is not None:
            where.append(f"task {task_id!r}")
        super().__init__(f"{', '.join(where)}: {problem}" if where else problem)


class DagCycleError(DagDefinitionError):
    """The DAG's dependencies form a cycle.

    Attributes:
        cycle: the task ids along the cycle, the first repeated at the end.

    """

    def __init__(self, cycle: list[str], *, dag_id: str | None = None) -> None:
        self.cycle = cycle
        super().__init__(f"cycle detected: {' -> '.join(cycle)}", dag_id=dag_id, task_id=cycle[0])


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks of one DAG have the same task id."""


class TaskSkipped(TradewindException):
    """The task asked to be skipped."""


class TaskFailedNoRetry(TradewindException):
    """The task failed and must not be retried."""


class TaskTimedOut(TradewindException):
    """The task ran longer than its execution_timeout."""


class TaskTerminated(TradewindException):
    """The task's process was told to stop (SIGTERM): cleared, marked, timed out or shut down."""


class TaskDeferred(TradewindException):
    """Raised by ``BaseOperator.defer``: the task waits on a trigger and resumes later.

    Attributes:
        trigger: the trigger to run.
        method_name: the task's method to call with the event.
        kwargs: more keyword arguments for that method.
        timeout: how long the trigger may wait before the task fails, or None.

    """

    def __init__(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | float | None = None,
    ) -> None:
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            timeout = timedelta(seconds=timeout)
        if timeout is not None and not isinstance(timeout, timedelta):
            raise ValueError("timeout must be a timedelta, seconds or None")
        self.timeout = timeout
        super().__init__(f"deferred to {type(trigger).__name__}, resuming in {method_name}")


class TaskDeferralError(TradewindException):
    """The trigger a task deferred to failed."""


class TaskDeferralTimeout(TradewindException):
    """The trigger a task deferred to timed out."""


class TaskRescheduled(TradewindException):
    """A sensor in reschedule mode asks to run again at ``reschedule_date``, holding no slot."""

    def __init__(self, reschedule_date: datetime) -> None:
        self.reschedule_date = reschedule_date
        super().__init__(f"rescheduled to {reschedule_date.isoformat()}")


class SensorTimeout(TaskFailedNoRetry):
    """A sensor ran past its timeout; it fails without retrying (or skips with soft_fail)."""


class DagRunAlreadyExists(TradewindException):
    """A run with that run id exists already (TriggerDagRunOperator without reset_dag_run)."""

    def __init__(self, message: str, *, dag_id: str = "", run_id: str = "") -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        super().__init__(message)


class NotFound(TradewindException):
    """A Variable, Connection or XCom that does not exist was asked for."""


class VariableNotFound(NotFound, KeyError):
    """The Variable does not exist (also a KeyError, as in Airflow)."""

    def __str__(self) -> str:
        # KeyError would quote the message.
        return str(self.args[0])


class ConnectionNotFound(NotFound):
    """The Connection does not exist."""


class XComNotFound(NotFound):
    """An XComArg refers to an XCom that the upstream task did not push."""


class TemplateRenderError(TradewindException):
    """A templated field of a task failed to render.

    Attributes:
        task_id: the task whose field failed.
        field: the name of the field.

    """

    def __init__(self, problem: str, *, task_id: str, field: str) -> None:
        self.task_id = task_id
        self.field = field
        super().__init__(f"task {task_id!r}: cannot render template field {field!r}: {problem}")


class NoTaskContext(TradewindException):
    """Current context was requested but no context was found: not inside a running task."""


# The Airflow names, so that ported DAG files only change their import lines.
AirflowException = TradewindException
AirflowSkipException = TaskSkipped
AirflowFailException = TaskFailedNoRetry
AirflowTaskTimeout = TaskTimedOut
AirflowTaskTerminated = TaskTerminated
AirflowNotFoundException = NotFound
AirflowDagCycleException = DagCycleError
DuplicateTaskIdFound = DuplicateTaskIdError
AirflowRescheduleException = TaskRescheduled
AirflowSensorTimeout = SensorTimeout
