"""Timetables on real services: Airflow 3's meaning of a cron string, and a user's Timetable
class installed in the plugins folder that the DAG processor, scheduler and executor share."""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.flows import trigger
from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import (
    eventually,
    import_errors,
    start_dag_processor,
    write_dag_file,
)
from tests.integration.executor.runs import register, start_executor, wait_for_run, xcom_values

RUN = dag_run_pb2

PLUGIN = '''
from datetime import datetime, timedelta, timezone

from tradewind import DagRunInfo, DataInterval, Timetable


class EveryFewSeconds(Timetable):
    """A run every few seconds on the epoch's grid, each covering the seconds before it."""

    def __init__(self, seconds: int = 2) -> None:
        self.seconds = seconds
        self.description = f"every {seconds} s"

    def serialize(self):
        return {"seconds": self.seconds}

    @classmethod
    def deserialize(cls, data):
        return cls(data["seconds"])

    def _floor(self, moment):
        stamp = moment.timestamp()
        return datetime.fromtimestamp(stamp - stamp % self.seconds, tz=timezone.utc)

    def infer_manual_data_interval(self, *, run_after):
        end = self._floor(run_after)
        return DataInterval(end - timedelta(seconds=self.seconds), end)

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        if last_automated_data_interval is None:
            end = self._floor(datetime.now(timezone.utc))
        else:
            end = last_automated_data_interval.end + timedelta(seconds=self.seconds)
        if restriction.latest is not None and end > restriction.latest:
            return None
        return DagRunInfo.interval(end - timedelta(seconds=self.seconds), end)
'''

SHOW_INTERVAL = """
@task
def show(logical_date=None, data_interval_start=None, data_interval_end=None, dag_run=None):
    return {
        "logical_date": logical_date.isoformat(),
        "start": data_interval_start.isoformat(),
        "end": data_interval_end.isoformat(),
        "run_id": dag_run.run_id,
    }
"""


@pytest.fixture(scope="module")
def plugins_folder(tmp_path_factory: pytest.TempPathFactory, state_service: ServiceProcess) -> Path:
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "tw_test_timetables.py").write_text(PLUGIN)
    return folder


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory, state_service: ServiceProcess) -> Path:
    return tmp_path_factory.mktemp("dags")


@pytest.fixture(scope="module")
def services(
    state_service: ServiceProcess, dags_folder: Path, plugins_folder: Path
) -> Iterator[list[ServiceProcess]]:
    plugins = ["--plugins-folder", str(plugins_folder)]
    started = [start_dag_processor(state_service.address, dags_folder, *plugins)]
    try:
        started.append(
            start_service("scheduler", state_service.address, "--sweep-interval", "1", *plugins)
        )
        started.append(start_executor(state_service.address, dags_folder, *plugins))
        yield started
    finally:
        for process in started:
            process.stop()


async def scheduled_runs(client: StateClient, dag_id: str, least: int) -> list[run_pb2.DagRun]:
    async def enough() -> list[run_pb2.DagRun] | None:
        listing = await client.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=dag_id))
        runs = [r for r in listing.dag_runs if r.run_type == RUN.DAG_RUN_TYPE_SCHEDULED]
        return (
            sorted(runs, key=lambda r: r.logical_date.ToNanoseconds())
            if len(runs) >= least
            else None
        )

    return await eventually(enough, within=30, what=f"{least} scheduled runs of {dag_id}")


def moment(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


@pytest.mark.timeout(90)
async def test_a_cron_string_runs_at_its_latest_tick_with_the_tick_as_logical_date(
    client: StateClient, dags_folder: Path, services: list[ServiceProcess]
) -> None:
    await register(
        client,
        dags_folder,
        "every_minute.py",
        textwrap.dedent(SHOW_INTERVAL)
        + textwrap.dedent(
            """
            with DAG("every_minute", schedule="* * * * *", start_date=START,
                     is_paused_upon_creation=False):
                show()
            """
        ),
        ["every_minute"],
    )
    (run, *_) = await scheduled_runs(client, "every_minute", 1)
    now = datetime.now(UTC)
    tick = moment(run.logical_date)
    # catchup=False: not the ticks since 2026-01-01, the latest one, created at once.
    assert tick.second == 0
    assert tick.microsecond == 0
    assert now - timedelta(minutes=2) < tick <= now
    assert moment(run.data_interval_start) == moment(run.data_interval_end) == tick
    assert run.run_id == f"scheduled__{tick.isoformat()}"
    finished = await wait_for_run(client, "every_minute", run.run_id)
    assert finished.state == RUN.DAG_RUN_STATE_SUCCESS
    shown = json.loads((await xcom_values(client, run, "show"))["return_value"])
    assert shown == {
        "logical_date": tick.isoformat(),
        "start": tick.isoformat(),
        "end": tick.isoformat(),
        "run_id": run.run_id,
    }


@pytest.mark.timeout(90)
async def test_a_users_timetable_from_the_plugins_folder_schedules_runs(
    client: StateClient, dags_folder: Path, services: list[ServiceProcess]
) -> None:
    await register(
        client,
        dags_folder,
        "custom_timetable.py",
        textwrap.dedent(SHOW_INTERVAL)
        + textwrap.dedent(
            """
            from tw_test_timetables import EveryFewSeconds

            with DAG("custom_timetable", schedule=EveryFewSeconds(2), start_date=START,
                     is_paused_upon_creation=False, max_active_runs=1):
                show()
            """
        ),
        ["custom_timetable"],
    )
    dag = await client.api.GetDag(
        api_rr.GetDagRequest(dag_id="custom_timetable", include_definition=True)
    )
    custom = dag.dag.definition.schedule.custom
    assert custom.class_path == "tw_test_timetables.EveryFewSeconds"
    assert json.loads(custom.serialized_json) == {"seconds": 2}
    runs = await scheduled_runs(client, "custom_timetable", 3)
    for run in runs:
        start, end = moment(run.data_interval_start), moment(run.data_interval_end)
        assert end - start == timedelta(seconds=2)
        assert end.timestamp() % 2 == 0
        assert moment(run.logical_date) == start
    # One after another on the grid: the timetable was asked after each run.
    ends = [moment(r.data_interval_end) for r in runs]
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(ends))
    finished = await wait_for_run(client, "custom_timetable", runs[0].run_id)
    assert finished.state == RUN.DAG_RUN_STATE_SUCCESS
    shown = json.loads((await xcom_values(client, runs[0], "show"))["return_value"])
    assert shown["start"] == moment(runs[0].data_interval_start).isoformat()
    assert shown["end"] == moment(runs[0].data_interval_end).isoformat()
    await client.api.PauseDag(api_rr.PauseDagRequest(dag_id="custom_timetable"))


async def test_a_timetable_defined_outside_the_plugins_folder_is_an_import_error(
    client: StateClient, dags_folder: Path, services: list[ServiceProcess]
) -> None:
    write_dag_file(
        dags_folder,
        "local_timetable.py",
        textwrap.dedent(
            """
            from datetime import datetime, timezone
            from tradewind import DAG, Timetable

            class Local(Timetable):
                def next_dagrun_info(self, *, last_automated_data_interval, restriction):
                    return None

            DAG("local_timetable", schedule=Local(), start_date=datetime(2026, 1, 1,
                tzinfo=timezone.utc))
            """
        ),
    )

    async def reported() -> object:
        return (await import_errors(client)).get("local_timetable.py")

    error = await eventually(reported, what="the import error of local_timetable.py")
    assert "not in the plugins folder" in error.stacktrace  # type: ignore[attr-defined]
    assert "Local" in error.stacktrace  # type: ignore[attr-defined]


async def test_a_manual_run_takes_the_data_interval_its_timetable_infers(
    client: StateClient, dags_folder: Path, services: list[ServiceProcess]
) -> None:
    await register(
        client,
        dags_folder,
        "manual_intervals.py",
        textwrap.dedent(
            """
            from tradewind import CronDataIntervalTimetable, CronTriggerTimetable

            with DAG("daily_intervals", schedule=CronDataIntervalTimetable("@daily", "UTC"),
                     start_date=START):
                BashOperator(task_id="t", bash_command="true")
            with DAG("four_hours_before", start_date=START, schedule=CronTriggerTimetable(
                    "@daily", timezone="UTC", interval=timedelta(hours=4))):
                BashOperator(task_id="t", bash_command="true")
            """
        ),
        ["daily_intervals", "four_hours_before"],
    )
    at = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    stamp = Timestamp()
    stamp.FromDatetime(at)
    daily = await trigger(client, "daily_intervals", logical_date=stamp)
    # The last complete day before the logical date, which stays the moment triggered.
    assert moment(daily.logical_date) == at
    assert moment(daily.data_interval_start) == datetime(2026, 3, 4, tzinfo=UTC)
    assert moment(daily.data_interval_end) == datetime(2026, 3, 5, tzinfo=UTC)
    before = await trigger(client, "four_hours_before", logical_date=stamp)
    assert moment(before.data_interval_start) == at - timedelta(hours=4)
    assert moment(before.data_interval_end) == at


@pytest.mark.timeout(90)
async def test_a_cron_partition_timetable_names_each_runs_partition(
    client: StateClient, dags_folder: Path, services: list[ServiceProcess]
) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    await register(
        client,
        dags_folder,
        "partitioned_minutes.py",
        textwrap.dedent(
            f"""
            from datetime import datetime

            from tradewind import DAG, CronPartitionTimetable, task

            @task
            def show(partition_key=None, dag_run=None):
                return [partition_key, dag_run.partition_key, dag_run.partition_date.isoformat()]

            with DAG(
                "partitioned_minutes",
                schedule=CronPartitionTimetable(
                    "* * * * *", timezone="Asia/Kolkata", run_offset=-1, key_format="%H:%M"
                ),
                start_date=datetime.fromisoformat({start.isoformat()!r}),
                catchup=True,
                is_paused_upon_creation=False,
            ):
                show()
            """
        ),
        ["partitioned_minutes"],
    )
    runs = await scheduled_runs(client, "partitioned_minutes", 3)
    for run in runs[:3]:
        tick = moment(run.logical_date)
        partition = tick - timedelta(minutes=1)  # run_offset=-1: the tick before
        assert moment(run.partition_date) == partition
        # The key is the partition's wall clock in the timetable's zone (UTC+05:30).
        wall = (partition + timedelta(hours=5, minutes=30)).strftime("%H:%M")
        assert run.partition_key == wall
    assert [moment(r.logical_date) for r in runs[:3]] == [
        start + timedelta(minutes=n) for n in range(3)
    ]
    finished = await wait_for_run(client, "partitioned_minutes", runs[0].run_id)
    assert finished.state == RUN.DAG_RUN_STATE_SUCCESS
    shown = json.loads((await xcom_values(client, runs[0], "show"))["return_value"])
    assert shown == [
        runs[0].partition_key,
        runs[0].partition_key,
        moment(runs[0].partition_date).isoformat(),
    ]


PREFIX_MAPPER_PLUGIN = '''
from tradewind import PartitionMapper


class PrefixStripMapper(PartitionMapper):
    """Airflow's plugin example: "eu::daily-sales" to "daily-sales"."""

    def __init__(self, prefix, *, separator="::", max_downstream_keys=None):
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.prefix = prefix
        self.separator = separator

    def to_downstream(self, key):
        full = self.prefix + self.separator
        return key[len(full):] if key.startswith(full) else key

    def serialize(self):
        return {"prefix": self.prefix, "separator": self.separator}

    @classmethod
    def deserialize(cls, data):
        return cls(data["prefix"], separator=data["separator"])
'''


@pytest.mark.timeout(90)
async def test_a_users_partition_mapper_from_the_plugins_folder_maps_keys(
    client: StateClient, dags_folder: Path, plugins_folder: Path, services: list[ServiceProcess]
) -> None:
    (plugins_folder / "tw_test_mappers.py").write_text(PREFIX_MAPPER_PLUGIN)
    await register(
        client,
        dags_folder,
        "prefixed_partitions.py",
        textwrap.dedent(
            """
            from tradewind import Asset, PartitionedAssetTimetable, PartitionedAtRuntime
            from tw_test_mappers import PrefixStripMapper

            SALES = Asset("prefixed_sales")

            with DAG("prefixed_producer", schedule=PartitionedAtRuntime(),
                     is_paused_upon_creation=False):
                @task(outlets=[SALES])
                def produce(outlet_events=None):
                    outlet_events[SALES].add_partitions(["eu::daily-sales", "eu::returns"])

                produce()

            with DAG(
                "prefixed_consumer",
                schedule=PartitionedAssetTimetable(
                    assets=SALES, default_partition_mapper=PrefixStripMapper("eu")
                ),
                is_paused_upon_creation=False,
            ):
                @task
                def consume(dag_run=None):
                    return dag_run.partition_key

                consume()
            """
        ),
        ["prefixed_producer", "prefixed_consumer"],
    )
    produced = await trigger(client, "prefixed_producer", request_id="prefixed")
    finished = await wait_for_run(client, "prefixed_producer", produced.run_id)
    assert finished.state == RUN.DAG_RUN_STATE_SUCCESS

    async def consumer_runs() -> dict[str, run_pb2.DagRun] | None:
        listing = await client.api.ListDagRuns(
            api_rr.ListDagRunsRequest(
                dag_id="prefixed_consumer", states=[RUN.DAG_RUN_STATE_SUCCESS]
            )
        )
        found = {r.partition_key: r for r in listing.dag_runs}
        return found if len(found) == 2 else None

    runs = await eventually(consumer_runs, within=30, what="two prefixed_consumer runs")
    assert sorted(runs) == ["daily-sales", "returns"]
    shown = json.loads((await xcom_values(client, runs["returns"], "consume"))["return_value"])
    assert shown == "returns"
