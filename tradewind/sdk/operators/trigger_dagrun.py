"""TriggerDagRunOperator: trigger a run of another DAG, and optionally wait for it (Airflow 3)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from core.runs import run_id_for
from core.states import DagRunState, DagRunType
from tradewind.sdk import clock, timezone
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.exceptions import (
    DagRunAlreadyExists,
    TaskFailedNoRetry,
    TaskSkipped,
    TradewindException,
)
from tradewind.sdk.other_dags import StateQuery
from tradewind.sdk.params import NOTSET
from tradewind.sdk.runtime import current_runtime
from tradewind.sdk.triggers.external_task import DagStateTrigger

#: The XCom key under which the triggered run's id is pushed (Airflow's).
XCOM_RUN_ID = "trigger_run_id"


class TriggerDagRunOperator(BaseOperator):
    """Triggers a run of ``trigger_dag_id``.

    Args:
        trigger_dag_id: the DAG to trigger (templated).
        trigger_run_id: the new run's id (templated); Airflow's manual run id by default.
        conf: the run's conf (templated), a JSON-serialisable dict.
        logical_date: the run's logical date (templated; a datetime or an ISO string); now
            by default.
        reset_dag_run: when the run id exists already, clear that run instead of failing.
        wait_for_completion: wait until the run ends in ``allowed_states`` or
            ``failed_states``.
        poke_interval: seconds between checks while waiting.
        allowed_states: run states that end the wait with success (default: success).
        failed_states: run states that fail the task (default: failed).
        skip_when_already_exists: skip (instead of failing) when the run exists already.
        fail_when_dag_is_paused: not supported, as in Airflow 3.
        deferrable: wait in the triggerer instead of holding a worker slot.
        **kwargs: BaseOperator arguments.

    """

    template_fields: Sequence[str] = (
        "trigger_dag_id",
        "trigger_run_id",
        "logical_date",
        "conf",
        "wait_for_completion",
        "skip_when_already_exists",
    )
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | None = None,
        logical_date: str | dt.datetime | None = NOTSET,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None,
        skip_when_already_exists: bool = False,
        fail_when_dag_is_paused: bool = False,
        deferrable: bool = False,
        openlineage_inject_parent_info: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = [
            str(DagRunState(s)) for s in (allowed_states or [DagRunState.SUCCESS])
        ]
        self.failed_states = [
            str(DagRunState(s))
            for s in (failed_states if failed_states is not None else [DagRunState.FAILED])
        ]
        self.skip_when_already_exists = skip_when_already_exists
        if fail_when_dag_is_paused:
            raise NotImplementedError("Setting `fail_when_dag_is_paused` not yet supported")
        self.deferrable = deferrable
        if logical_date is not NOTSET and not isinstance(logical_date, str | dt.datetime | None):
            raise TypeError(
                f"Expected str, datetime.datetime, or None for parameter 'logical_date'. Got"
                f" {type(logical_date).__name__}"
            )
        self.logical_date = logical_date

    def execute(self, context: Mapping[str, Any]) -> None:
        """Trigger the run; wait for it (polling, or deferred) when asked to."""
        logical_date = self._logical_date()
        conf = self._conf()
        run_id = (
            str(self.trigger_run_id)
            if self.trigger_run_id
            else run_id_for(DagRunType.MANUAL, logical_date or clock.utcnow())
        )
        try:
            run = current_runtime().trigger_dag_run(
                self.trigger_dag_id,
                run_id=run_id,
                logical_date=logical_date,
                conf=conf,
                reset_dag_run=self.reset_dag_run,
            )
        except DagRunAlreadyExists as error:
            if self.skip_when_already_exists:
                raise TaskSkipped(
                    f"Dag Run {run_id} of {self.trigger_dag_id} already exists, skipping task"
                    " as skip_when_already_exists is set to True."
                ) from error
            raise TaskFailedNoRetry(str(error)) from error
        self.log.info("Dag Run %s of %s triggered.", run.run_id, self.trigger_dag_id)
        context["ti"].xcom_push(key=XCOM_RUN_ID, value=run.run_id)
        if not self.wait_for_completion:
            return
        if self.deferrable:
            self.defer(
                trigger=DagStateTrigger(
                    dag_id=self.trigger_dag_id,
                    states=self.allowed_states + self.failed_states,
                    run_ids=[run.run_id],
                    poll_interval=self.poke_interval,
                ),
                method_name="execute_complete",
            )
        self._wait(run.run_id)

    def _wait(self, run_id: str) -> None:
        runtime = current_runtime()
        while True:
            self.log.info(
                "Waiting for %s run %s to end in %s",
                self.trigger_dag_id,
                run_id,
                self.allowed_states,
            )
            time.sleep(self.poke_interval)
            if self._in(runtime, run_id, self.failed_states):
                raise TaskFailedNoRetry(
                    f"{self.trigger_dag_id} run {run_id} finished in one of {self.failed_states}"
                )
            if self._in(runtime, run_id, self.allowed_states):
                self.log.info("%s run %s finished in an allowed state", self.trigger_dag_id, run_id)
                return

    def _in(self, runtime: Any, run_id: str, states: Sequence[str]) -> bool:
        if not states:
            return False
        query = StateQuery(dag_id=self.trigger_dag_id, states=list(states), run_ids=[run_id])
        return bool(runtime.count_states(query))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the triggered run ended: fail when it ended in a failed state."""
        if not isinstance(event, tuple | list) or len(event) != 2:
            raise TradewindException(f"unexpected event from DagStateTrigger: {event!r}")
        data: Mapping[str, Any] = event[1]
        failed = [r for r in data.get("run_ids", []) if data.get(r) in self.failed_states]
        for run_id in data.get("run_ids", []):
            if data.get(run_id) in self.allowed_states:
                self.log.info(
                    "%s finished with allowed state %s for run_id %s",
                    self.trigger_dag_id,
                    data.get(run_id),
                    run_id,
                )
        if failed:
            raise TradewindException(f"{self.trigger_dag_id} failed with failed states {failed}")

    def _logical_date(self) -> dt.datetime | None:
        if self.logical_date is NOTSET:
            return clock.utcnow()
        if self.logical_date is None or isinstance(self.logical_date, dt.datetime):
            return self.logical_date
        return timezone.parse(self.logical_date)

    def _conf(self) -> dict[str, Any]:
        conf = self.conf
        try:
            if conf and isinstance(conf, str):
                conf = json.loads(conf)
            json.dumps(conf)
        except (TypeError, ValueError) as error:
            raise ValueError(f"conf parameter should be JSON Serializable {conf}") from error
        return dict(conf or {})
