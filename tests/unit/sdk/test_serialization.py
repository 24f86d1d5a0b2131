"""Serialisation to the contract: every field round-trips; the content hash is stable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from tradewind import (
    DAG,
    BashOperator,
    CronDataIntervalTimetable,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    EmptyOperator,
    EventsTimetable,
    MultipleCronTriggerTimetable,
    Param,
    TaskGroup,
    task,
)
from tradewind.sdk.loader import load_dags_from_file
from tradewind.sdk.serialization import serialize_dag

REPO_ROOT = Path(__file__).resolve().parents[3]


def notify(context: Any) -> None:
    pass


def build(**overrides: Any) -> DAG:
    """A DAG that sets every field of the contract to something not default."""
    arguments: dict[str, Any] = {
        "description": "Nightly load",
        "schedule": "@daily",
        "start_date": datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
        "end_date": datetime(2025, 1, 1, tzinfo=UTC),
        "catchup": True,
        "max_active_runs": 2,
        "max_active_tasks": 8,
        "dagrun_timeout": timedelta(hours=2),
        "params": {"limit": Param(10, type="integer"), "mode": "full"},
        "tags": ["sales", "etl"],
        "doc_md": "# Load",
        "is_paused_upon_creation": True,
        "default_args": {"owner": "data"},
    }
    task_arguments = overrides.pop("task_arguments", {})
    arguments.update(overrides)
    with DAG("load", **arguments) as built:
        start = EmptyOperator(task_id="start")
        with TaskGroup("grp"):
            copy_arguments: dict[str, Any] = {
                "bash_command": "cp {{ ds }}",
                "env": {"A": "1"},
                "trigger_rule": "one_success",
                "retries": 3,
                "retry_delay": timedelta(seconds=45),
                "retry_exponential_backoff": True,
                "max_retry_delay": timedelta(minutes=10),
                "execution_timeout": timedelta(minutes=30),
                "pool": "warehouse",
                "pool_slots": 2,
                "queue": "io",
                "priority_weight": 5,
                "weight_rule": "absolute",
                "doc_md": "Copies",
                "on_success_callback": notify,
                "on_failure_callback": [notify],
                "on_retry_callback": notify,
            }
            copy = BashOperator(task_id="copy", **{**copy_arguments, **task_arguments})

        @task
        def report(value: str) -> None:
            pass

        start >> copy
        report(copy.output)
    return built


def serialize(dag: DAG, fileloc: str = "/dags/load.py") -> dag_pb2.SerializedDag:
    return serialize_dag(dag, fileloc=fileloc, relative_fileloc="load.py")


def test_every_field_round_trips_through_the_proto() -> None:
    sent = serialize(build())
    received = dag_pb2.SerializedDag.FromString(sent.SerializeToString())
    d = received.definition
    assert d.dag_id == "load"
    assert (d.description, d.doc_md) == ("Nightly load", "# Load")
    assert d.schedule.WhichOneof("kind") == "cron_trigger"
    assert list(d.schedule.cron_trigger.expressions) == ["0 0 * * *"]
    assert d.schedule.description == "@daily"
    assert d.schedule.timezone == "Europe/Paris"
    assert d.start_date.ToDatetime(tzinfo=UTC) == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert d.end_date.ToDatetime(tzinfo=UTC) == datetime(2025, 1, 1, tzinfo=UTC)
    assert (d.catchup, d.max_active_runs, d.max_active_tasks) == (True, 2, 8)
    assert d.dagrun_timeout.ToTimedelta() == timedelta(hours=2)
    assert json.loads(d.params_json) == {"limit": 10, "mode": "full"}
    assert list(d.tags) == ["etl", "sales"]
    assert list(d.owners) == ["data"]
    assert d.is_paused_upon_creation is True
    assert (d.fileloc, d.relative_fileloc) == ("/dags/load.py", "load.py")
    assert [t.task_id for t in d.tasks] == ["grp.copy", "report", "start"]

    copy = d.tasks[0]
    assert copy.operator == "BashOperator"
    assert list(copy.upstream_task_ids) == ["start"]
    assert copy.trigger_rule == ti_enums.TRIGGER_RULE_ONE_SUCCESS
    assert copy.retries == 3
    assert copy.retry_delay.ToTimedelta() == timedelta(seconds=45)
    assert copy.retry_exponential_backoff is True
    assert copy.max_retry_delay.ToTimedelta() == timedelta(minutes=10)
    assert copy.execution_timeout.ToTimedelta() == timedelta(minutes=30)
    assert (copy.pool, copy.pool_slots, copy.queue) == ("warehouse", 2, "io")
    assert copy.priority_weight == 5
    assert copy.weight_rule == ti_enums.PRIORITY_WEIGHT_RULE_ABSOLUTE
    assert copy.task_group_id == "grp"
    assert copy.doc_md == "Copies"
    assert (
        copy.has_on_success_callback,
        copy.has_on_failure_callback,
        copy.has_on_retry_callback,
    ) == (True, True, True)
    assert json.loads(copy.fields_json) == {
        "append_env": False,
        "bash_command": "cp {{ ds }}",
        "cwd": None,
        "env": {"A": "1"},
        "skip_on_exit_code": [99],
    }

    report = d.tasks[1]
    assert report.operator == "@task"
    assert list(report.upstream_task_ids) == ["grp.copy"]
    assert report.task_group_id == ""
    assert not report.HasField("max_retry_delay")
    assert not report.HasField("execution_timeout")
    fields = json.loads(report.fields_json)
    assert fields["op_args"] == ["XComArg('grp.copy', key='return_value')"]
    assert fields["python_callable"].endswith("build.<locals>.report")


def test_other_schedule_kinds_and_unset_fields() -> None:
    interval = serialize(DAG("i", schedule=timedelta(minutes=5), start_date=datetime(2024, 1, 1)))
    once = serialize(DAG("o", schedule="@once", start_date=datetime(2024, 1, 1)))
    manual = serialize(DAG("m")).definition
    assert interval.definition.schedule.delta_trigger.delta.ToTimedelta() == timedelta(minutes=5)
    assert interval.definition.schedule.description == "timedelta(minutes=5)"
    assert once.definition.schedule.once is True
    start = datetime(2024, 1, 1, tzinfo=UTC)
    kinds = {
        "cron": CronDataIntervalTimetable("@daily"),
        "interval": DeltaDataIntervalTimetable(timedelta(hours=1)),
        "cron_trigger": MultipleCronTriggerTimetable(
            "0 6 * * *", "@hourly", timezone="Europe/Paris", run_immediately=timedelta(hours=1)
        ),
        "delta_trigger": DeltaTriggerTimetable(timedelta(hours=2), interval=timedelta(hours=1)),
        "events": EventsTimetable([datetime(2024, 2, 1), start], restrict_to_events=True),
        "continuous": "@continuous",
    }
    found = {}
    for kind, schedule in kinds.items():
        dag = DAG(f"k_{kind}", schedule=schedule, start_date=start, max_active_runs=1)
        found[kind] = serialize(dag).definition.schedule
        assert found[kind].WhichOneof("kind") == kind
    trigger = found["cron_trigger"].cron_trigger
    assert list(trigger.expressions) == ["0 6 * * *", "0 * * * *"]
    assert trigger.run_immediately_within.ToTimedelta() == timedelta(hours=1)
    assert found["cron_trigger"].timezone == "Europe/Paris"
    assert found["delta_trigger"].delta_trigger.interval.ToTimedelta() == timedelta(hours=1)
    events = found["events"].events
    assert [e.ToDatetime(tzinfo=UTC) for e in events.event_dates] == [
        start,
        datetime(2024, 2, 1, tzinfo=UTC),
    ]
    assert events.restrict_to_events
    assert manual.schedule.WhichOneof("kind") is None
    assert manual.schedule.timezone == "UTC"
    assert not manual.HasField("start_date")
    assert not manual.HasField("end_date")
    assert not manual.HasField("dagrun_timeout")
    assert manual.owners == ["airflow"]
    assert manual.params_json == "{}"


def test_same_dag_built_twice_has_the_same_hash() -> None:
    first, second = serialize(build()), serialize(build())
    assert first.content_hash == second.content_hash
    assert len(first.content_hash) == 64


def test_fileloc_does_not_change_the_hash() -> None:
    dag = build()
    assert serialize(dag, "/a/load.py").content_hash == serialize(dag, "/b/load.py").content_hash


@pytest.mark.parametrize(
    "change",
    [
        {"task_arguments": {"retries": 4}},
        {"task_arguments": {"bash_command": "cp {{ ds_nodash }}"}},
        {"task_arguments": {"on_retry_callback": None}},
        {"schedule": "@hourly"},
        {"tags": ["sales"]},
        {"max_active_runs": 3},
        {"params": {"limit": 11}},
        {"start_date": datetime(2024, 1, 2)},
    ],
)
def test_any_change_changes_the_hash(change: dict[str, Any]) -> None:
    assert serialize(build()).content_hash != serialize(build(**change)).content_hash


def test_a_new_edge_changes_the_hash() -> None:
    changed = build()
    changed.get_task("start") >> changed.get_task("report")
    assert serialize(build()).content_hash != serialize(changed).content_hash


DAG_FILE = textwrap.dedent(
    """
    from datetime import datetime
    from tradewind import DAG, task, BashOperator

    def on_failure(context):
        pass

    with DAG("stable", schedule="0 6 * * *", start_date=datetime(2024, 1, 1)):
        @task
        def extract():
            return 1

        BashOperator(task_id="b", bash_command="echo", on_failure_callback=on_failure) << extract()
    """
)

HASH_SCRIPT = """
import sys
from tradewind.sdk.loader import load_dags_from_file
from tradewind.sdk.serialization import serialize_dag
result = load_dags_from_file(sys.argv[1], dags_folder=sys.argv[2])
(dag,) = result.dags
print(serialize_dag(dag, fileloc=sys.argv[1], relative_fileloc="team/stable.py").content_hash)
"""


def test_hash_is_the_same_in_another_process_and_another_folder(tmp_path: Path) -> None:
    here, there = tmp_path / "host_a", tmp_path / "host_b"
    (here / "team").mkdir(parents=True)
    (here / "team" / "stable.py").write_text(DAG_FILE)
    shutil.copytree(here, there)
    loaded = load_dags_from_file(here / "team" / "stable.py", dags_folder=here)
    (dag,) = loaded.dags
    local = serialize_dag(dag, fileloc=dag.fileloc, relative_fileloc="team/stable.py")
    remote = subprocess.run(
        [sys.executable, "-c", HASH_SCRIPT, str(there / "team" / "stable.py"), str(there)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert remote.stdout.strip() == local.content_hash


def test_edge_labels_and_setup_teardown_roles_are_serialised() -> None:
    from tradewind import Label

    with DAG("labelled", start_date=datetime(2026, 1, 1, tzinfo=UTC), schedule=None) as dag:
        create = EmptyOperator(task_id="create").as_setup()
        check = EmptyOperator(task_id="check")
        report = EmptyOperator(task_id="report")
        delete = EmptyOperator(task_id="delete")
        create >> check >> Label("all rows valid") >> report
        report >> delete.as_teardown(setups=create)
    tasks = {
        t.task_id: t
        for t in serialize_dag(dag, fileloc="/dags/l.py", relative_fileloc="l.py").definition.tasks
    }
    assert dict(tasks["report"].upstream_edge_labels) == {"check": "all rows valid"}
    assert dict(tasks["delete"].upstream_edge_labels) == {}
    assert (tasks["create"].is_setup, tasks["delete"].is_teardown) == (True, True)
    assert tasks["delete"].trigger_rule == ti_enums.TRIGGER_RULE_ALL_DONE_SETUP_SUCCESS
    unlabelled = serialize_dag(dag, fileloc="/dags/l.py", relative_fileloc="l.py").content_hash
    dag.set_edge_info("check", "report", {"label": "other text"})
    assert (
        serialize_dag(dag, fileloc="/dags/l.py", relative_fileloc="l.py").content_hash != unlabelled
    )  # a label is part of the DAG
