"""dag.test() runs deferred tries' triggers in process and re-pokes rescheduled sensors."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tradewind import (
    DAG,
    BaseOperator,
    BaseTrigger,
    Connection,
    EmptyOperator,
    FileSensor,
    PythonSensor,
    TaskInstanceState,
    TimeDeltaSensor,
    TimeDeltaTrigger,
    TriggerEvent,
    dag,
    task,
)
from tradewind.sdk.triggers.base import classpath_of
from tradewind.testing import run_dag

from .conftest import START

SUCCESS, FAILED, SKIPPED = (
    TaskInstanceState.SUCCESS,
    TaskInstanceState.FAILED,
    TaskInstanceState.SKIPPED,
)


class WaitAMoment(BaseOperator):
    """Defers for ``seconds``, then returns what the event and its own kwargs brought back."""

    def __init__(self, *, seconds: float, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds
        self.timeout = timeout

    def execute(self, context: Any) -> None:
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=self.seconds)),
            method_name="execute_complete",
            kwargs={"note": "resumed"},
            timeout=self.timeout,
        )

    def execute_complete(self, context: Any, event: Any = None, note: str = "") -> dict[str, Any]:
        return {"note": note, "fired_at": event, "try": context["ti"].try_number}


class SourceGoneTrigger(BaseTrigger):
    """Fails after a short wait, as a trigger whose source went away."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(SourceGoneTrigger), {}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(0.01)
        raise ValueError("the source is gone")
        yield TriggerEvent(None)  # pragma: no cover - makes run() an async generator


class WaitOnSource(BaseOperator):
    def execute(self, context: Any) -> None:
        self.defer(trigger=SourceGoneTrigger(), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        raise AssertionError("a failed trigger must not resume in execute_complete")


@dag(schedule=None, start_date=START)
def deferring() -> None:
    wait = WaitAMoment(task_id="wait", seconds=0.2)

    @task
    def report(waited: dict[str, Any]) -> str:
        return f"{waited['note']} in try {waited['try']}"

    report(wait.output)


def test_a_deferred_task_resumes_in_the_same_try_with_the_event() -> None:
    started = datetime.now().astimezone()
    wall = time.monotonic()
    result = deferring().test()
    assert time.monotonic() - wall >= 0.2
    assert result.state == "success"
    assert result.task_states == {"wait": SUCCESS, "report": SUCCESS}
    waited = result.xcom("wait")
    assert waited["note"] == "resumed"
    assert waited["try"] == 1
    assert isinstance(waited["fired_at"], datetime)  # the trigger's moment, as a datetime
    assert waited["fired_at"] >= started + timedelta(seconds=0.2)
    assert result.xcom("report") == "resumed in try 1"
    assert [r.outcome for r in result.tries["wait"]] == ["success"]


def test_a_trigger_that_raises_fails_the_task_and_each_retry_defers_again() -> None:
    with DAG("source_gone") as built:
        WaitOnSource(task_id="wait", retries=1, retry_delay=0) >> EmptyOperator(task_id="after")
    result = run_dag(built)
    assert result.task_states == {"wait": FAILED, "after": TaskInstanceState.UPSTREAM_FAILED}
    assert [r.outcome for r in result.tries["wait"]] == ["failed", "failed"]
    error = result.tries["wait"][-1].error
    assert error is not None
    assert error.type == "tradewind.sdk.exceptions.TaskDeferralError"
    assert error.message == "Trigger failure: ValueError: the source is gone"


def test_a_deferral_timeout_fails_the_task() -> None:
    with DAG("too_slow") as built:
        WaitAMoment(task_id="wait", seconds=3600, timeout=0.2)
    wall = time.monotonic()
    result = run_dag(built)
    assert time.monotonic() - wall < 2
    assert result.task_states == {"wait": FAILED}
    error = result.tries["wait"][0].error
    assert error is not None
    assert error.type == "tradewind.sdk.exceptions.TaskDeferralTimeout"
    assert error.message == "Trigger timeout"


def test_a_deferrable_sensor_past_its_timeout_fails_or_skips_with_soft_fail() -> None:
    with DAG("late_data") as built:
        strict = TimeDeltaSensor(
            task_id="strict", delta=timedelta(hours=1), deferrable=True, timeout=0.2, retries=2
        )
        soft = TimeDeltaSensor(
            task_id="soft", delta=timedelta(hours=1), deferrable=True, timeout=0.2, soft_fail=True
        )
        soft >> EmptyOperator(task_id="load")
        strict >> EmptyOperator(task_id="audit", trigger_rule="all_done")

    result = run_dag(built, logical_date=datetime.now().astimezone())
    assert result.task_states == {
        "strict": FAILED,
        "soft": SKIPPED,
        "load": SKIPPED,
        "audit": SUCCESS,
    }
    strict_error = result.tries["strict"][0].error
    assert strict_error is not None
    assert strict_error.type == "tradewind.sdk.exceptions.SensorTimeout"
    assert [r.outcome for r in result.tries["strict"]] == ["failed_no_retry"]  # no retries


def test_a_deferrable_file_sensor_resumes_once_the_file_lands(tmp_path: Path) -> None:
    with DAG("landing") as built:
        FileSensor(task_id="wait", filepath="sales.csv", deferrable=True, poke_interval=0.05)
    timer = threading.Timer(0.2, (tmp_path / "sales.csv").write_text, args=("1",))
    timer.start()
    try:
        connection = Connection("fs_default", "fs", extra=json.dumps({"path": str(tmp_path)}))
        result = run_dag(built, connections={"fs_default": connection})
    finally:
        timer.cancel()
    assert result.task_states == {"wait": SUCCESS}


def test_a_reschedule_mode_sensor_pokes_again_in_the_same_try() -> None:
    pokes: list[dict[str, Any]] = []

    def third_time_lucky(**context: Any) -> bool:
        ti = context["ti"]
        pokes.append(
            {
                "try": ti.try_number,
                "reschedules": context["task_reschedule_count"],
                "first": ti.get_first_reschedule_date(context),
                "at": datetime.now().astimezone(),
            }
        )
        return len(pokes) == 3

    with DAG("partner_upload", schedule=None, start_date=START) as built:
        PythonSensor(
            task_id="wait", python_callable=third_time_lucky, mode="reschedule", poke_interval=0.1
        )

    result = built.test()
    assert result.task_states == {"wait": SUCCESS}
    assert [r.outcome for r in result.tries["wait"]] == ["success"]
    assert [p["try"] for p in pokes] == [1, 1, 1]
    assert [p["reschedules"] for p in pokes] == [0, 1, 2]
    first = pokes[0]["at"]
    assert pokes[0]["first"] is None
    assert pokes[1]["first"] == pokes[2]["first"]
    assert pokes[1]["first"] <= first  # when the first poke's process started
    assert pokes[1]["at"] - first >= timedelta(seconds=0.1)
    assert pokes[2]["at"] - first >= timedelta(seconds=0.2)


def test_a_reschedule_mode_sensor_times_out_from_its_first_poke() -> None:
    calls: list[int] = []

    def never_ready() -> bool:
        calls.append(1)
        return len(calls) > 20  # a timeout counted per poke would never fire: this stops it

    with DAG("never_ready") as built:
        PythonSensor(
            task_id="wait",
            python_callable=never_ready,
            mode="reschedule",
            poke_interval=0.1,
            timeout=0.25,
            retries=1,
        )
    result = run_dag(built)
    assert result.task_states == {"wait": FAILED}
    assert [r.outcome for r in result.tries["wait"]] == ["failed_no_retry"]
    assert 3 <= len(calls) <= 5


async def test_dag_test_from_inside_an_event_loop() -> None:
    with DAG("from_async") as built:
        WaitAMoment(task_id="wait", seconds=0.05)
    result = run_dag(built)
    assert result.task_states == {"wait": SUCCESS}
