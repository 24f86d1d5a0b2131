"""ExternalTaskSensor and ExternalTaskMarker: waits on, and clears across, other DAGs.

The sensor counts the other DAG's task instances (or runs) through the state service, in its
task process (poke, reschedule) or in the triggerer (``deferrable=True``, WorkflowTrigger).
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from core.states import DagRunState, TaskInstanceState
from protos.dag.v1 import message_pb2 as dag_pb2
from tradewind.sdk.exceptions import TaskSkipped, TradewindException
from tradewind.sdk.operators.empty import EmptyOperator
from tradewind.sdk.other_dags import StateQuery
from tradewind.sdk.runtime import current_runtime
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.triggers.external_task import WorkflowTrigger

#: The marker's default logical date: the marker's own run's.
SAME_LOGICAL_DATE = "{{ logical_date.isoformat() }}"


class ExternalTaskSensorError(TradewindException):
    """Base of the ExternalTaskSensor's errors (Airflow's AirflowExternalTaskSensorException)."""


class DuplicateStateError(ExternalTaskSensorError):
    """A state is in more than one of allowed_states, skipped_states and failed_states."""


class ExternalDagFailedError(ExternalTaskSensorError):
    """The external DAG's run ended in a failed state."""


class ExternalTaskFailedError(ExternalTaskSensorError):
    """An external task ended in a failed state."""


class ExternalTaskGroupFailedError(ExternalTaskSensorError):
    """A task of the external task group ended in a failed state."""


class ExternalTaskNotFoundError(ExternalTaskSensorError):
    """The trigger reported no usable status."""


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for another DAG's tasks, task group or run to reach ``allowed_states``.

    Args:
        external_dag_id: the DAG to wait for (templated).
        external_task_id: one task to wait for (templated).
        external_task_ids: several tasks (templated); none of the three: the DAG run itself.
        external_task_group_id: a task group (templated).
        allowed_states: states that end the wait (default: success).
        skipped_states: states that skip the sensor.
        failed_states: states that fail it (or skip it, with soft_fail).
        execution_delta: look at the run this long before the sensor's logical date.
        execution_date_fn: a function of the logical date (and context keywords) returning
            the logical date(s) to look at.
        check_existence: accepted for compatibility; a missing DAG or task simply never
            reaches the allowed states.
        poll_interval: seconds between checks when deferred.
        deferrable: wait in the triggerer.
        **kwargs: BaseSensorOperator arguments.

    """

    template_fields: Sequence[str] = (
        "external_dag_id",
        "external_task_id",
        "external_task_ids",
        "external_task_group_id",
    )
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: dt.timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.allowed_states = [str(s) for s in allowed_states] if allowed_states else ["success"]
        self.skipped_states = [str(s) for s in skipped_states] if skipped_states else []
        self.failed_states = [str(s) for s in failed_states] if failed_states else []
        every = self.allowed_states + self.skipped_states + self.failed_states
        if len(set(every)) != len(every):
            raise DuplicateStateError(
                "Duplicate values provided across allowed_states, skipped_states and failed_states."
            )
        task_ids = list(external_task_ids) if external_task_ids else None
        if external_task_id is not None and task_ids is not None:
            raise ValueError(
                "Only one of `external_task_id` or `external_task_ids` may be provided to"
                " ExternalTaskSensor; use external_task_id or external_task_ids or"
                " external_task_group_id."
            )
        if external_task_id is not None:
            task_ids = [external_task_id]
        if external_task_group_id is not None and task_ids is not None:
            raise ValueError(
                "Only one of `external_task_group_id` or `external_task_ids` may be provided to"
                " ExternalTaskSensor; use external_task_id or external_task_ids or"
                " external_task_group_id."
            )
        valid = (
            {str(s) for s in TaskInstanceState}
            if task_ids or external_task_group_id
            else {str(s) for s in DagRunState}
        )
        if not set(every) <= valid:
            raise ValueError(
                "Valid values for `allowed_states`, `skipped_states` and `failed_states` here"
                f" are {sorted(valid)}"
            )
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError(
                "Only one of `execution_delta` or `execution_date_fn` may be provided to"
                " ExternalTaskSensor; not both."
            )
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = task_ids
        self.external_task_group_id = external_task_group_id
        self.check_existence = check_existence
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    def _logical_dates(self, context: Mapping[str, Any]) -> list[dt.datetime]:
        logical_date: dt.datetime = context["logical_date"]
        if self.execution_delta:
            return [logical_date - self.execution_delta]
        if self.execution_date_fn:
            result = self._call_date_fn(logical_date, context)
            return list(result) if isinstance(result, list | tuple) else [result]
        return [logical_date]

    def _call_date_fn(self, logical_date: dt.datetime, context: Mapping[str, Any]) -> Any:
        assert self.execution_date_fn is not None
        kwargs = {k: v for k, v in context.items() if k != "logical_date"}
        kwargs["context"] = context
        parameters = inspect.signature(self.execution_date_fn).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in parameters}
        return self.execution_date_fn(logical_date, **kwargs)

    def _count(self, dates: Sequence[dt.datetime], states: Sequence[str]) -> float:
        runtime = current_runtime()
        query = StateQuery(
            dag_id=self.external_dag_id,
            states=list(states),
            logical_dates=list(dates),
            task_ids=list(self.external_task_ids or []),
            task_group_ids=[self.external_task_group_id] if self.external_task_group_id else [],
        )
        count = runtime.count_states(query)
        if self.external_task_ids:
            return count / len(self.external_task_ids)
        if self.external_task_group_id:
            every = StateQuery(
                dag_id=query.dag_id,
                states=[str(s) for s in TaskInstanceState],
                logical_dates=query.logical_dates,
                task_group_ids=query.task_group_ids,
            )
            total = runtime.count_states(every)
            # Runs whose every group task is in the states (one run per date).
            return len(dates) if total and count == total else min(count, len(dates) - 1)
        return count

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Whether the external tasks (or runs) are all in the allowed states."""
        if self.external_task_ids and len(self.external_task_ids) > len(
            set(self.external_task_ids)
        ):
            raise ValueError("Duplicate task_ids passed in external_task_ids parameter")
        dates = self._logical_dates(context)
        shown = ",".join(d.isoformat() for d in dates)
        what = (
            f"tasks {self.external_task_ids}"
            if self.external_task_ids
            else f"task_group '{self.external_task_group_id}'"
            if self.external_task_group_id
            else "the DAG run"
        )
        self.log.info("Poking for %s in dag %s on %s ... ", what, self.external_dag_id, shown)
        if self.failed_states and self._count(dates, self.failed_states) > 0:
            message = f"{what} in DAG {self.external_dag_id} failed"
            if self.soft_fail:
                raise TaskSkipped(f"{message}. Skipping due to soft_fail.")
            error = (
                ExternalTaskFailedError
                if self.external_task_ids
                else ExternalTaskGroupFailedError
                if self.external_task_group_id
                else ExternalDagFailedError
            )
            raise error(f"{message}.")
        if self.skipped_states and self._count(dates, self.skipped_states) > 0:
            raise TaskSkipped(
                f"{what} in DAG {self.external_dag_id} reached a state in our states-to-skip-on"
                " list. Skipping."
            )
        return self._count(dates, self.allowed_states) == len(dates)

    def execute(self, context: Mapping[str, Any]) -> None:
        """Poke (or reschedule), or defer to WorkflowTrigger with ``deferrable=True``."""
        if not self.deferrable:
            super().execute(context)
            return
        timeout = self.timeout or (
            self.execution_timeout.total_seconds() if self.execution_timeout else None
        )
        self.defer(
            timeout=dt.timedelta(seconds=timeout) if timeout else None,
            trigger=WorkflowTrigger(
                external_dag_id=self.external_dag_id,
                external_task_group_id=self.external_task_group_id,
                external_task_ids=self.external_task_ids,
                allowed_states=self.allowed_states,
                failed_states=self.failed_states,
                skipped_states=self.skipped_states,
                poke_interval=self.poll_interval,
                soft_fail=self.soft_fail,
                logical_dates=self._logical_dates(context),
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume from the trigger: succeed, skip or fail on its status."""
        if event is None:
            raise ExternalTaskNotFoundError("No event received from trigger")
        status = event.get("status") if isinstance(event, dict) else None
        if status == "success":
            self.log.info("External tasks %s have executed successfully.", self.external_task_ids)
        elif status == "skipped":
            raise TaskSkipped("External job has skipped skipping.")
        elif status == "failed":
            if self.soft_fail:
                raise TaskSkipped("External job has failed skipping.")
            raise ExternalDagFailedError("External job has failed.")
        else:
            if self.soft_fail:
                raise TaskSkipped("External job has failed skipping.")
            raise ExternalTaskNotFoundError(
                "Error occurred while trying to retrieve task status. Please, check the name of"
                " executed task and Dag."
            )


class ExternalTaskMarker(EmptyOperator):
    """Marks that a task of another DAG depends on this one.

    Clearing this task with ``include_dependent_dags`` (``tradewind tasks clear
    --include-dependent-dags``) also clears ``external_task_id`` of ``external_dag_id`` in
    the run at ``logical_date`` and its downstream tasks, following further markers up to
    ``recursion_depth`` levels.

    Args:
        external_dag_id: the DAG of the dependent task.
        external_task_id: the dependent task.
        logical_date: the dependent run's logical date: a datetime, an ISO string, or the
            default template (the marker's own run's logical date).
        recursion_depth: how many levels of markers a clear follows (positive).
        **kwargs: BaseOperator arguments.

    """

    template_fields: Sequence[str] = ("external_dag_id", "external_task_id", "logical_date")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str,
        logical_date: str | dt.datetime | None = SAME_LOGICAL_DATE,
        recursion_depth: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        if isinstance(logical_date, dt.datetime):
            self.logical_date = logical_date.isoformat()
        elif isinstance(logical_date, str):
            self.logical_date = logical_date
        else:
            raise TypeError(
                f"Expected str or datetime.datetime type for logical_date. Got {type(logical_date)}"
            )
        if recursion_depth <= 0:
            raise ValueError("recursion_depth should be a positive integer")
        self.recursion_depth = recursion_depth

    @property
    def external_marker_spec(self) -> dag_pb2.ExternalTaskMarkerSpec:
        """What the state service needs to follow this marker when clearing."""
        return dag_pb2.ExternalTaskMarkerSpec(
            external_dag_id=self.external_dag_id,
            external_task_id=self.external_task_id,
            logical_date_template=self.logical_date,
            recursion_depth=self.recursion_depth,
        )
