"""Deferred tasks through every real service on both backends: timers, failures, timeouts,
reschedule-mode sensors, a trigger that blocks the loop, and a triggerer killed mid-wait.
"""

from __future__ import annotations

import asyncio
import json
import signal
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.flows import trigger
from tests.helpers.processes import ServiceProcess
from tests.helpers.scale import long_form
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import eventually, instance_id
from tests.integration.executor.runs import (
    RUN,
    describe,
    register,
    task_instance,
    tries,
    wait_for_run,
    xcom_values,
)
from tests.integration.triggerer.conftest import SLOTS, start_triggerer

pytestmark = pytest.mark.usefixtures("triggerer")

DEFERRED = ti_enums.TASK_INSTANCE_STATE_DEFERRED
#: Deferred tasks in the many-timers test, far more than the executor's slots (1,000 in the
#: long form; ``bench/`` measures how fast they go).
MANY = 1000 if long_form() else 200
TIMER_SECONDS = 2.0

OPERATORS = """
from tradewind import BaseOperator
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.triggers.base import BaseTrigger, TriggerEvent
from tradewind.sdk.triggers.temporal import TimeDeltaTrigger


class Timer(BaseOperator):
    def __init__(self, seconds=2.0, n=0, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds
        self.n = n

    def execute(self, context):
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=self.seconds)),
            method_name="resume",
            kwargs={"n": self.n},
        )

    def resume(self, context, event=None, n=None):
        return {"due": event.isoformat(), "resumed": datetime.now(timezone.utc).isoformat(), "n": n}


class Broken(BaseTrigger):
    def serialize(self):
        return (f"{type(self).__module__}.Broken", {})

    async def run(self):
        raise ValueError("the external system said no")
        yield


class Blocking(BaseTrigger):
    def serialize(self):
        return (f"{type(self).__module__}.Blocking", {})

    async def run(self):
        time.sleep(30)
        yield TriggerEvent("never")


class Defer(BaseOperator):
    def __init__(self, trigger_class, timeout=None, **kwargs):
        super().__init__(**kwargs)
        self.trigger_class = trigger_class
        self.timeout_seconds = timeout

    def execute(self, context):
        trigger = {"broken": Broken, "blocking": Blocking}[self.trigger_class]()
        self.defer(trigger=trigger, method_name="resume", timeout=self.timeout_seconds)

    def resume(self, context, event=None):
        return event


class Waiting(BaseSensorOperator):
    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(hours=1)), method_name="resume",
                   timeout=timedelta(seconds=self.timeout))

    def resume(self, context, event=None):
        return "woke"
"""


async def _register(client: StateClient, folder: Path, name: str, source: str) -> None:
    await register(client, folder, f"{name}.py", OPERATORS + textwrap.dedent(source), [name])


@pytest.mark.timeout(240)
async def test_many_deferred_timers_free_their_slots(
    client: StateClient, dags_folder: Path, state_service: ServiceProcess
) -> None:
    many = MANY
    await _register(
        client,
        dags_folder,
        "many_timers",
        f"""
        with DAG("many_timers", schedule=None, start_date=START, max_active_tasks={many}):
            Timer.partial(task_id="wait", seconds={TIMER_SECONDS}).expand(n=list(range({many})))
        """,
    )
    run = await trigger(client, "many_timers")
    most_deferred = 0
    deferred_state = [ti_enums.TASK_INSTANCE_STATE_DEFERRED]
    while True:
        listed = await client.api.ListTaskInstances(
            api_rr.ListTaskInstancesRequest(
                dag_id="many_timers", run_id=run.run_id, states=deferred_state, page_size=1000
            )
        )
        most_deferred = max(most_deferred, len(listed.task_instances))
        current = await client.api.GetDagRun(api_rr.GetDagRunRequest(key=_run_key(run)))
        if current.dag_run.state in (RUN.DAG_RUN_STATE_SUCCESS, RUN.DAG_RUN_STATE_FAILED):
            break
        await asyncio.sleep(0.25)
    assert current.dag_run.state == RUN.DAG_RUN_STATE_SUCCESS
    # Far more tasks waited at once than there are slots: waiting held none.
    assert most_deferred > 2 * SLOTS, most_deferred
    attempts = await tries(client, run)
    assert len(attempts) == many
    assert all(t.try_number == 1 for t in attempts)
    delays = []
    for attempt in attempts:
        assert attempt.state == ti_enums.TASK_INSTANCE_STATE_SUCCESS
    response = await client.api.ListXComs(
        api_rr.ListXComsRequest(dag_id="many_timers", run_id=run.run_id, page_size=1000)
    )
    values = [json.loads(x.value_json) for x in response.xcoms if x.xcom_key == "return_value"]
    assert sorted(v["n"] for v in values) == list(range(many))
    for value in values:
        due = datetime.fromisoformat(value["due"])
        resumed = datetime.fromisoformat(value["resumed"])
        assert resumed >= due
        delays.append((resumed - due).total_seconds())
    elapsed = current.dag_run.end_date.ToDatetime() - current.dag_run.start_date.ToDatetime()
    print(
        f"\n{many} deferred timers: run took {elapsed.total_seconds():.1f} s;"
        f" timer due -> resumed process: {describe(delays)}; most deferred at once:"
        f" {most_deferred}"
    )


def _run_key(run: run_pb2.DagRun) -> run_pb2.DagRunKey:
    return run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id)


async def test_a_failing_trigger_fails_its_task_and_a_timeout_soft_fails_a_sensor(
    client: StateClient, dags_folder: Path
) -> None:
    await _register(
        client,
        dags_folder,
        "trigger_failures",
        """
        with DAG("trigger_failures", schedule=None, start_date=START):
            Defer(task_id="broken", trigger_class="broken")
            Waiting(task_id="soft", timeout=1, soft_fail=True)
            Waiting(task_id="hard", timeout=1)
        """,
    )
    run = await trigger(client, "trigger_failures")
    done = await wait_for_run(client, "trigger_failures", run.run_id, within=30)
    assert done.state == RUN.DAG_RUN_STATE_FAILED
    broken = await task_instance(client, run, "broken")
    assert broken.state == ti_enums.TASK_INSTANCE_STATE_FAILED
    assert "the external system said no" in broken.last_error.message
    assert broken.last_error.exception_type.endswith("TaskDeferralError")
    soft = await task_instance(client, run, "soft")
    assert soft.state == ti_enums.TASK_INSTANCE_STATE_SKIPPED
    hard = await task_instance(client, run, "hard")
    assert hard.state == ti_enums.TASK_INSTANCE_STATE_FAILED
    assert hard.last_error.exception_type.endswith("SensorTimeout")
    assert hard.try_number == 1  # a sensor timeout is not retried


async def test_a_trigger_blocking_the_loop_is_interrupted_and_the_others_go_on(
    client: StateClient, dags_folder: Path, triggerer: ServiceProcess
) -> None:
    await _register(
        client,
        dags_folder,
        "blocking",
        """
        with DAG("blocking", schedule=None, start_date=START):
            Defer(task_id="blocks", trigger_class="blocking")
            Timer(task_id="timer", seconds=1)
        """,
    )
    run = await trigger(client, "blocking")
    done = await wait_for_run(client, "blocking", run.run_id, within=30)
    assert (await task_instance(client, run, "timer")).state == ti_enums.TASK_INSTANCE_STATE_SUCCESS
    blocks = await task_instance(client, run, "blocks")
    assert blocks.state == ti_enums.TASK_INSTANCE_STATE_FAILED
    assert "blocked the event loop" in blocks.last_error.message
    assert done.state == RUN.DAG_RUN_STATE_FAILED
    assert "the event loop is blocked" in triggerer.output()


async def test_a_reschedule_sensor_frees_its_slot_between_pokes(
    client: StateClient, dags_folder: Path, state_service: ServiceProcess
) -> None:
    from tests.integration.executor.runs import start_executor

    await register(
        client,
        dags_folder,
        "reschedule.py",
        """
        from tradewind.sdk.sensors.base import BaseSensorOperator

        class Pokes(BaseSensorOperator):
            def poke(self, context):
                marker = Path(os.environ["MARKER_DIR"]) / context["run_id"]
                count = int(marker.read_text()) + 1 if marker.exists() else 1
                marker.write_text(str(count))
                return count >= 3

        with DAG("reschedule", schedule=None, start_date=START):
            Pokes(task_id="sensor", mode="reschedule", poke_interval=1, queue="one_slot")

            @task(queue="one_slot")
            def meanwhile():
                return "ran"

            meanwhile()
        """,
        ["reschedule"],
    )
    marker_dir = dags_folder / "markers"
    marker_dir.mkdir(exist_ok=True)
    one_slot = start_executor(
        state_service.address,
        dags_folder,
        "--slots",
        "1",
        "--queues",
        "one_slot",
        env={"MARKER_DIR": str(marker_dir)},
    )
    try:
        run = await trigger(client, "reschedule")
        done = await wait_for_run(client, "reschedule", run.run_id, within=30)
    finally:
        one_slot.stop()
    assert done.state == RUN.DAG_RUN_STATE_SUCCESS
    sensor = await task_instance(client, run, "sensor")
    assert sensor.try_number == 1
    assert sensor.reschedule_count == 2
    assert (marker_dir / run.run_id).read_text() == "3"
    assert await xcom_values(client, run, "meanwhile") == {"return_value": '"ran"'}


async def test_a_deferred_task_resumes_on_another_triggerer_after_a_kill(
    client: StateClient,
    dags_folder: Path,
    state_service: ServiceProcess,
    triggerer: ServiceProcess,
) -> None:
    await _register(
        client,
        dags_folder,
        "failover",
        """
        with DAG("failover", schedule=None, start_date=START):
            Timer(task_id="wait", seconds=5)
        """,
    )
    second = start_triggerer(state_service.address, dags_folder)
    try:
        replicas = {await instance_id(p): p for p in (triggerer, second)}
        run = await trigger(client, "failover")

        async def leased() -> run_pb2.TaskInstance | None:
            ti = await task_instance(client, run, "wait")
            held = ti.state == ti_enums.TASK_INSTANCE_STATE_DEFERRED and ti.trigger.triggerer_id
            return ti if held else None

        ti = await eventually(leased, within=20, what="wait deferred and leased")
        holder = replicas[ti.trigger.triggerer_id]
        holder.signal(signal.SIGKILL)
        holder.wait()
        survivor = next(p for p in replicas.values() if p is not holder)
        survivor_id = next(i for i, p in replicas.items() if p is survivor)

        async def taken_over() -> bool:
            now = await task_instance(client, run, "wait")
            return now.trigger.triggerer_id == survivor_id or now.state != DEFERRED

        await eventually(taken_over, within=15, what="the survivor took the trigger")
        done = await wait_for_run(client, "failover", run.run_id, within=30)
        assert done.state == RUN.DAG_RUN_STATE_SUCCESS
        after = await task_instance(client, run, "wait")
        assert after.try_number == 1
    finally:
        second.stop()
        if triggerer.process is not None and triggerer.process.poll() is not None:
            triggerer.start().wait_serving()
