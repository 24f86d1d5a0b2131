"""Cross-DAG operators through every real service on both backends: TriggerDagRunOperator
waiting deferred, ExternalTaskSensor in every mode, ExternalTaskMarker clearing another DAG.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.flows import trigger
from tests.helpers.state import StateClient
from tests.integration.executor.runs import (
    RUN,
    register,
    task_instance,
    wait_for_run,
    xcom_values,
)

pytestmark = pytest.mark.usefixtures("triggerer")

SUCCESS = ti_enums.TASK_INSTANCE_STATE_SUCCESS
IMPORTS = """
        from tradewind import ExternalTaskMarker, ExternalTaskSensor, TriggerDagRunOperator
"""


def _at(day: int) -> datetime:
    return datetime(2026, 3, day, tzinfo=UTC)


async def _trigger_at(client: StateClient, dag_id: str, moment: datetime) -> run_pb2.DagRun:
    stamp = run_pb2.DagRun().start_date
    stamp.FromDatetime(moment)
    return await trigger(client, dag_id, logical_date=stamp)


async def test_trigger_dag_run_waits_deferred_for_the_run_it_triggered(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "controller.py",
        IMPORTS
        + """
        with DAG("target", schedule=None, start_date=START):
            @task
            def produce(**context):
                time.sleep(1)
                return context["dag_run"].conf["size"]

            produce()

        with DAG("failing_target", schedule=None, start_date=START):
            @task
            def explode():
                raise AirflowFailException("no")

            explode()

        with DAG("controller", schedule=None, start_date=START):
            TriggerDagRunOperator(
                task_id="start_target",
                trigger_dag_id="target",
                conf={"size": 3},
                wait_for_completion=True,
                deferrable=True,
                poke_interval=0.5,
            )
            TriggerDagRunOperator(
                task_id="start_failing",
                trigger_dag_id="failing_target",
                wait_for_completion=True,
                poke_interval=0.5,
            )
        """,
        ["target", "failing_target", "controller"],
    )
    run = await trigger(client, "controller")
    done = await wait_for_run(client, "controller", run.run_id, within=40)
    assert done.state == RUN.DAG_RUN_STATE_FAILED  # start_failing failed, as it should
    started = await task_instance(client, run, "start_target")
    assert started.state == SUCCESS
    assert started.try_number == 1
    target_run_id = json.loads((await xcom_values(client, run, "start_target"))["trigger_run_id"])
    target = await client.api.GetDagRun(
        api_rr.GetDagRunRequest(key=run_pb2.DagRunKey(dag_id="target", run_id=target_run_id))
    )
    assert target.dag_run.state == RUN.DAG_RUN_STATE_SUCCESS
    assert json.loads(target.dag_run.conf_json) == {"size": 3}
    # It waited for the target: it ended after the target's run did.
    assert started.end_date.ToDatetime() >= target.dag_run.end_date.ToDatetime()
    failing = await task_instance(client, run, "start_failing")
    assert failing.state == ti_enums.TASK_INSTANCE_STATE_FAILED
    assert "failing_target" in failing.last_error.message


async def test_external_task_sensor_waits_in_every_mode(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "external.py",
        IMPORTS
        + """
        with DAG("upstream_dag", schedule=None, start_date=START):
            @task
            def finish():
                return "finished"

            finish()

        with DAG("waiting_dag", schedule=None, start_date=START):
            ExternalTaskSensor(task_id="poking", external_dag_id="upstream_dag",
                               external_task_id="finish", poke_interval=0.5, timeout=60)
            ExternalTaskSensor(task_id="rescheduling", external_dag_id="upstream_dag",
                               external_task_id="finish", poke_interval=1, mode="reschedule",
                               timeout=60)
            ExternalTaskSensor(task_id="deferring", external_dag_id="upstream_dag",
                               external_task_id="finish", poll_interval=0.5, deferrable=True,
                               timeout=60)
            ExternalTaskSensor(task_id="whole_run", external_dag_id="upstream_dag",
                               poke_interval=0.5, timeout=60)
            ExternalTaskSensor(task_id="other_day", external_dag_id="upstream_dag",
                               external_task_id="finish", execution_delta=timedelta(days=1),
                               poke_interval=0.5, timeout=3, soft_fail=True)
        """,
        ["upstream_dag", "waiting_dag"],
    )
    waiting = await _trigger_at(client, "waiting_dag", _at(10))

    async def all_waiting() -> bool:
        states = [
            (await task_instance(client, waiting, t)).state for t in ("rescheduling", "deferring")
        ]
        return states == [
            ti_enums.TASK_INSTANCE_STATE_UP_FOR_RESCHEDULE,
            ti_enums.TASK_INSTANCE_STATE_DEFERRED,
        ]

    from tests.integration.dag_processor.dag_files import eventually

    await eventually(all_waiting, within=20, what="sensors waiting")
    upstream = await _trigger_at(client, "upstream_dag", _at(10))
    assert (await wait_for_run(client, "upstream_dag", upstream.run_id)).state == (
        RUN.DAG_RUN_STATE_SUCCESS
    )
    done = await wait_for_run(client, "waiting_dag", waiting.run_id, within=40)
    assert done.state == RUN.DAG_RUN_STATE_SUCCESS
    for task_id in ("poking", "rescheduling", "deferring", "whole_run"):
        ti = await task_instance(client, waiting, task_id)
        assert ti.state == SUCCESS, task_id
        assert ti.try_number == 1, task_id
    # No upstream run the day before: it timed out and soft_fail skipped it.
    other = await task_instance(client, waiting, "other_day")
    assert other.state == ti_enums.TASK_INSTANCE_STATE_SKIPPED


async def test_clearing_an_external_task_marker_clears_the_other_dag(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "marker.py",
        IMPORTS
        + """
        with DAG("marker_parent", schedule=None, start_date=START):
            ExternalTaskMarker(task_id="parent_task", external_dag_id="marker_child",
                               external_task_id="child_task1")

        with DAG("marker_child", schedule=None, start_date=START):
            child_task1 = ExternalTaskSensor(task_id="child_task1",
                                             external_dag_id="marker_parent",
                                             external_task_id="parent_task", poke_interval=0.5)

            @task
            def child_task2():
                return "again"

            child_task1 >> child_task2()

            @task
            def unrelated():
                return "once"

            unrelated()
        """,
        ["marker_parent", "marker_child"],
    )
    parent = await _trigger_at(client, "marker_parent", _at(20))
    child = await _trigger_at(client, "marker_child", _at(20))
    for dag_id, run in (("marker_parent", parent), ("marker_child", child)):
        assert (await wait_for_run(client, dag_id, run.run_id)).state == RUN.DAG_RUN_STATE_SUCCESS

    request = api_rr.ClearTaskInstancesRequest(
        dag_id="marker_parent",
        run_id=parent.run_id,
        task_ids=["parent_task"],
        include_dependent_dags=True,
        dry_run=True,
    )
    planned = await client.api.ClearTaskInstances(request)
    assert sorted((t.key.dag_id, t.key.task_id) for t in planned.task_instances) == [
        ("marker_child", "child_task1"),
        ("marker_child", "child_task2"),
        ("marker_parent", "parent_task"),
    ]
    request.dry_run = False
    await client.api.ClearTaskInstances(request)
    for dag_id, run in (("marker_parent", parent), ("marker_child", child)):
        assert (await wait_for_run(client, dag_id, run.run_id)).state == RUN.DAG_RUN_STATE_SUCCESS
    assert (await task_instance(client, child, "child_task2")).try_number == 2
    assert (await task_instance(client, child, "unrelated")).try_number == 1
    without = await client.api.ClearTaskInstances(
        api_rr.ClearTaskInstancesRequest(
            dag_id="marker_parent", run_id=parent.run_id, task_ids=["parent_task"], dry_run=True
        )
    )
    assert [t.key.dag_id for t in without.task_instances] == ["marker_parent"]
