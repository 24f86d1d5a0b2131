"""Conversion of the contract's messages into the client's dataclasses, and of enums both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import dag_run_pb2, log_pb2, task_instance_pb2
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tradewind.client import (
    Connection,
    Dag,
    DagRun,
    DagRunState,
    DagRunType,
    LogLine,
    LogStream,
    TaskInstance,
    TaskInstanceState,
    TaskInstanceTry,
    TriggerRule,
    TryOutcome,
    XCom,
)
from tradewind.client._enums import (
    DAG_RUN_STATES,
    DAG_RUN_TYPES,
    LOG_STREAMS,
    TASK_INSTANCE_STATES,
    TRIGGER_RULES,
    TRY_OUTCOMES,
    ProtoEnum,
)
from tradewind.client._runs import conf_json, timestamp

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@pytest.mark.parametrize(
    ("mapping", "enum", "proto"),
    [
        (TASK_INSTANCE_STATES, TaskInstanceState, task_instance_pb2.TaskInstanceState),
        (TRIGGER_RULES, TriggerRule, task_instance_pb2.TriggerRule),
        (TRY_OUTCOMES, TryOutcome, task_instance_pb2.TryOutcome),
        (DAG_RUN_STATES, DagRunState, dag_run_pb2.DagRunState),
        (DAG_RUN_TYPES, DagRunType, dag_run_pb2.DagRunType),
        (LOG_STREAMS, LogStream, log_pb2.LogStream),
    ],
)
def test_every_proto_value_has_a_member_and_back(
    mapping: ProtoEnum[Any], enum: type[StrEnum], proto: Any
) -> None:
    values = [value for _, value in proto.items() if value]
    assert {mapping.member(value) for value in values} == set(enum)
    for value in values:
        assert mapping.to_proto(mapping.member(value)) == value
    assert mapping.from_proto(0) is None
    with pytest.raises(ValueError, match="unspecified"):
        mapping.member(0)
    with pytest.raises(ValueError, match="unknown"):
        mapping.from_proto(999)


def test_states_have_airflows_names() -> None:
    assert (
        TASK_INSTANCE_STATES.member(task_instance_pb2.TASK_INSTANCE_STATE_UP_FOR_RETRY)
        == "up_for_retry"
    )
    assert TASK_INSTANCE_STATES.to_proto("upstream_failed") == (
        task_instance_pb2.TASK_INSTANCE_STATE_UPSTREAM_FAILED
    )
    assert DagRunState.SUCCESS.finished
    assert not DagRunState.RUNNING.finished
    with pytest.raises(ValueError, match="'bogus' is not a valid"):
        TASK_INSTANCE_STATES.to_proto("bogus")


def test_a_dag_run_converts_with_times_conf_and_counts() -> None:
    message = run_pb2.DagRun(
        dag_id="etl",
        run_id="manual__1",
        run_type=dag_run_pb2.DAG_RUN_TYPE_MANUAL,
        state=dag_run_pb2.DAG_RUN_STATE_RUNNING,
        logical_date=ts(WHEN),
        start_date=ts(WHEN),
        end_date=ts(WHEN + timedelta(seconds=90)),
        conf_json='{"day": "2026-01-01"}',
        task_instance_counts=[
            run_pb2.StateCount(state=task_instance_pb2.TASK_INSTANCE_STATE_SUCCESS, count=2),
            run_pb2.StateCount(state=task_instance_pb2.TASK_INSTANCE_STATE_RUNNING, count=1),
        ],
    )
    run = DagRun.from_proto(message)
    assert run.state is DagRunState.RUNNING
    assert run.run_type is DagRunType.MANUAL
    assert run.logical_date == WHEN
    assert run.queued_at is None
    assert run.conf == {"day": "2026-01-01"}
    assert run.task_counts == {TaskInstanceState.SUCCESS: 2, TaskInstanceState.RUNNING: 1}
    assert run.duration == timedelta(seconds=90)
    assert DagRun.from_proto(run_pb2.DagRun(state=dag_run_pb2.DAG_RUN_STATE_QUEUED)).conf == {}


def test_a_task_instance_and_its_tries_convert() -> None:
    key = run_pb2.TaskInstanceKey(dag_id="etl", run_id="r", task_id="load")
    message = run_pb2.TaskInstance(
        key=key,
        state=task_instance_pb2.TASK_INSTANCE_STATE_FAILED,
        try_number=2,
        max_tries=3,
        duration=Duration(seconds=3),
        last_error=run_pb2.TryError(exception_type="ValueError", message="bad row"),
    )
    ti = TaskInstance.from_proto(message)
    assert (ti.dag_id, ti.run_id, ti.task_id) == ("etl", "r", "load")
    assert ti.state is TaskInstanceState.FAILED
    assert ti.duration == timedelta(seconds=3)
    assert ti.last_error is not None
    assert ti.last_error.exception_type == "ValueError"
    assert (
        TaskInstance.from_proto(
            run_pb2.TaskInstance(key=key, state=task_instance_pb2.TASK_INSTANCE_STATE_NONE)
        ).last_error
        is None
    )

    running = TaskInstanceTry.from_proto(
        run_pb2.TaskInstanceTry(
            key=key, try_number=1, state=task_instance_pb2.TASK_INSTANCE_STATE_RUNNING
        )
    )
    assert running.outcome is None
    assert running.end_date is None


def test_a_dag_shows_its_schedule_and_tasks_only_when_asked() -> None:
    definition = dag_pb2.DagDefinition(
        tasks=[
            dag_pb2.TaskDefinition(
                task_id="load",
                upstream_task_ids=["extract"],
                trigger_rule=task_instance_pb2.TRIGGER_RULE_ALL_DONE,
            )
        ]
    )
    cron = Dag.from_proto(
        dag_pb2.Dag(
            dag_id="etl",
            schedule=dag_pb2.Schedule(cron="0 0 * * *", description="@daily"),
            definition=definition,
        )
    )
    assert cron.schedule == "@daily"
    assert cron.timezone == "UTC"
    assert cron.tasks is not None
    assert cron.tasks[0].upstream_task_ids == ("extract",)
    assert cron.tasks[0].trigger_rule is TriggerRule.ALL_DONE
    manual = Dag.from_proto(dag_pb2.Dag(dag_id="m"))
    assert manual.schedule is None
    assert manual.tasks is None
    interval = Dag.from_proto(
        dag_pb2.Dag(schedule=dag_pb2.Schedule(interval=Duration(seconds=3600)))
    )
    assert interval.schedule == "every 1:00:00"
    hour = Duration(seconds=3600)
    shown = {
        "assets": dag_pb2.Schedule(
            assets=dag_pb2.AssetCondition(asset=dag_pb2.Asset(name="a", uri="a"))
        ),
        "trigger": dag_pb2.Schedule(
            cron_trigger=dag_pb2.CronTrigger(expressions=["0 6 * * *", "0 18 * * *"])
        ),
        "delta": dag_pb2.Schedule(delta_trigger=dag_pb2.DeltaTrigger(delta=hour)),
        "continuous": dag_pb2.Schedule(continuous=True),
        "custom": dag_pb2.Schedule(custom=dag_pb2.CustomTimetable(class_path="workday.Workday")),
    }
    assert {k: Dag.from_proto(dag_pb2.Dag(schedule=v)).schedule for k, v in shown.items()} == {
        "assets": "Asset",
        "trigger": "0 6 * * *, 0 18 * * *",
        "delta": "every 1:00:00",
        "continuous": "@continuous",
        "custom": "Workday",
    }


def test_connections_keep_an_unset_port_and_redacted_extras() -> None:
    redacted = Connection.from_proto(
        resource_pb2.Connection(conn_id="db", conn_type="postgres", extra_json="***")
    )
    assert redacted.port is None
    with pytest.raises(ValueError, match="redacted"):
        _ = redacted.extra
    clear = Connection(conn_id="db", conn_type="postgres", port=5432, extra_json='{"a": 1}')
    assert clear.extra == {"a": 1}
    assert Connection.from_proto(clear.to_proto()) == clear
    assert not Connection(conn_id="x", conn_type="http").to_proto().HasField("port")


def test_log_lines_and_xcoms_convert() -> None:
    line = LogLine.from_proto(
        run_pb2.LogLine(sequence=4, stream=log_pb2.LOG_STREAM_LOGGING, level="INFO", message="m"),
        try_number=2,
    )
    assert (line.sequence, line.try_number, line.stream, line.timestamp) == (
        4,
        2,
        LogStream.LOGGING,
        None,
    )
    xcom = XCom.from_proto(
        run_pb2.XCom(
            key=run_pb2.TaskInstanceKey(task_id="extract"), xcom_key="return_value", value_json="3"
        )
    )
    assert (xcom.task_id, xcom.key, xcom.value) == ("extract", "return_value", 3)


def test_conf_must_be_a_json_encodable_dict() -> None:
    assert conf_json(None) == ""
    assert conf_json({"a": [1, 2]}) == '{"a": [1, 2]}'
    bad: Any = [1, 2]
    with pytest.raises(ValueError, match="must be a dict"):
        conf_json(bad)
    with pytest.raises(ValueError, match="cannot be encoded as JSON"):
        conf_json({"when": datetime.now(UTC)})


def test_times_sent_must_be_timezone_aware() -> None:
    assert timestamp(WHEN, "logical_date").ToDatetime(tzinfo=UTC) == WHEN
    with pytest.raises(ValueError, match="logical_date must be timezone-aware"):
        timestamp(datetime(2026, 1, 1), "logical_date")
