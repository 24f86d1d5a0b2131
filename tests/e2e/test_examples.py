"""Every example DAG through the whole suite of separate processes, on SQLite and PostgreSQL,
and on PostgreSQL with two replicas of every service."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.databases import BACKENDS, TemplateDatabases, require_postgres
from tests.helpers.processes import REPO_ROOT, ServiceProcess
from tests.helpers.scale import long_form
from tests.helpers.services import start_service
from tests.helpers.state import StateClient, start_state, state_client

EXAMPLES = REPO_ROOT / "examples" / "dags"
EXAMPLE_DAG_COUNT = len(list(EXAMPLES.glob("example_*.py")))
SUCCESS = ti_enums.TASK_INSTANCE_STATE_SUCCESS
SKIPPED = ti_enums.TASK_INSTANCE_STATE_SKIPPED


@dataclass
class Deployment:
    """A running suite: state replicas plus the other services."""

    states: list[ServiceProcess]
    others: list[ServiceProcess]
    replicated: bool = False
    backend: str = "sqlite"

    @property
    def addresses(self) -> list[str]:
        return [s.address for s in self.states]

    def stop(self) -> None:
        for process in [*self.others, *self.states]:
            process.stop()


def deploy(url: str, replicas: int) -> Deployment:
    states = [start_state(url) for _ in range(replicas)]
    address = ",".join(s.address for s in states)
    others = []
    for _ in range(replicas):
        others.append(
            start_service(
                "dag_processor", address, "--dags-folder", str(EXAMPLES), "--scan-interval", "0.5"
            )
        )
        others.append(start_service("scheduler", address))
        others.append(
            start_service("executor", address, "--dags-folder", str(EXAMPLES), "--slots", "8")
        )
        others.append(start_service("triggerer", address, "--dags-folder", str(EXAMPLES)))
    return Deployment(states, others)


@pytest.fixture(scope="module", params=[*BACKENDS, "postgresql-replicated"])
def deployment(
    request: pytest.FixtureRequest,
    template_databases: TemplateDatabases,
    postgres_status: str | None,
) -> Iterator[Deployment]:
    backend = str(request.param)
    if backend.startswith("postgresql"):
        require_postgres(postgres_status)
    suite = deploy(
        template_databases.new_url(backend.split("-")[0]),
        2 if backend.endswith("replicated") else 1,
    )
    suite.replicated = backend.endswith("replicated")
    suite.backend = backend.split("-")[0]
    yield suite
    suite.stop()


@pytest.fixture
async def api(deployment: Deployment) -> AsyncIterator[StateClient]:
    async with state_client(*deployment.addresses) as client:
        deadline = time.monotonic() + 60
        while True:
            listing = await client.api.ListDags(api_rr.ListDagsRequest())
            if len(listing.dags) >= EXAMPLE_DAG_COUNT:
                break
            assert time.monotonic() < deadline, [d.dag_id for d in listing.dags]
            await asyncio.sleep(0.2)
        yield client


async def run_to_end(
    client: StateClient,
    dag_id: str,
    conf: dict[str, object] | None = None,
    *,
    within: float = 60,
    partition_key: str = "",
) -> run_pb2.DagRun:
    trigger = await client.api.TriggerDagRun(
        api_rr.TriggerDagRunRequest(
            dag_id=dag_id,
            conf_json=json.dumps(conf or {}),
            request_id=f"{dag_id}-{time.time_ns()}",
            partition_key=partition_key,
        )
    )
    key = run_pb2.DagRunKey(dag_id=dag_id, run_id=trigger.dag_run.run_id)
    deadline = time.monotonic() + within
    while True:
        run = (await client.api.GetDagRun(api_rr.GetDagRunRequest(key=key))).dag_run
        if run.state in (dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED):
            return run
        assert time.monotonic() < deadline, f"{dag_id} did not finish"
        await asyncio.sleep(0.05)


async def states_of(client: StateClient, run: run_pb2.DagRun) -> dict[str, int]:
    listing = await client.api.ListTaskInstances(
        api_rr.ListTaskInstancesRequest(dag_id=run.dag_id, run_id=run.run_id)
    )
    return {ti.key.task_id: ti.state for ti in listing.task_instances}


async def xcoms_of(client: StateClient, run: run_pb2.DagRun) -> dict[str, object]:
    listing = await client.api.ListXComs(
        api_rr.ListXComsRequest(dag_id=run.dag_id, run_id=run.run_id)
    )
    return {
        x.key.task_id: json.loads(x.value_json)
        for x in listing.xcoms
        if x.xcom_key == "return_value"
    }


async def log_of(client: StateClient, run: run_pb2.DagRun, task_id: str) -> str:
    key = run_pb2.TaskInstanceKey(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
    logs = await client.api.GetTaskInstanceLogs(api_rr.GetTaskInstanceLogsRequest(key=key))
    return "\n".join(line.message for line in logs.lines)


async def test_etl_passes_values_through_xcom(api: StateClient) -> None:
    run = await run_to_end(api, "example_etl", {"multiplier": 3})
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    xcoms = await xcoms_of(api, run)
    assert xcoms["transform"] == pytest.approx((10.5 + 3.25 + 8.0) * 3)
    assert xcoms["load"] == f"total={xcoms['transform']}"
    assert "extracted 3 orders" in await log_of(api, run, "extract")


async def test_branching_skips_the_path_not_taken(api: StateClient) -> None:
    run = await run_to_end(api, "example_branching", {"weekend": True})
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert await states_of(api, run) == {
        "choose": SUCCESS,
        "weekday_report": SKIPPED,
        "weekend_report": SUCCESS,
        "join": SUCCESS,
    }


async def test_a_flaky_task_succeeds_on_retry(api: StateClient) -> None:
    run = await run_to_end(api, "example_retries")
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    tries = await api.api.ListTaskInstanceTries(
        api_rr.ListTaskInstanceTriesRequest(
            dag_id="example_retries", run_id=run.run_id, task_ids=["flaky"]
        )
    )
    assert [(t.try_number, t.state) for t in tries.tries] == [
        (1, ti_enums.TASK_INSTANCE_STATE_UP_FOR_RETRY),
        (2, SUCCESS),
    ]
    assert "ConnectionError" in tries.tries[0].error.exception_type
    assert (await xcoms_of(api, run))["flaky"] == 2


async def test_templated_bash_renders_in_the_task(api: StateClient) -> None:
    run = await run_to_end(api, "example_bash")
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert f"hello from run {run.run_id}" in await log_of(api, run, "greet")
    assert "region=eu-west-1" in await log_of(api, run, "show_env")


async def test_a_two_slot_pool_runs_two_at_a_time(api: StateClient) -> None:
    await api.api.SetPool(
        api_rr.SetPoolRequest(pool=resource_pb2.Pool(name="example_pool", slots=2))
    )
    run = await run_to_end(api, "example_pools")
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    tries = await api.api.ListTaskInstanceTries(
        api_rr.ListTaskInstanceTriesRequest(dag_id="example_pools", run_id=run.run_id)
    )
    spans = [(t.start_date.ToNanoseconds(), t.end_date.ToNanoseconds()) for t in tries.tries]
    peak = max(sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans)
    assert peak <= 2
    assert len(spans) == 6


async def test_catchup_creates_a_run_per_missed_day(api: StateClient) -> None:
    await api.api.UnpauseDag(api_rr.UnpauseDagRequest(dag_id="example_catchup"))
    deadline = time.monotonic() + 60
    while True:
        runs = (
            await api.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id="example_catchup"))
        ).dag_runs
        done = [r for r in runs if r.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS]
        if len(done) >= 4:
            break
        assert time.monotonic() < deadline, [(r.run_id, r.state) for r in runs]
        await asyncio.sleep(0.2)
    # "@daily" is a CronTriggerTimetable (Airflow 3): a run at each midnight from the start
    # date, three days ago, to today's, each with the midnight as its logical date.
    logical = sorted(r.logical_date.ToDatetime(tzinfo=UTC) for r in runs)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert logical == [today - timedelta(days=d) for d in (3, 2, 1, 0)]
    assert all(r.data_interval_end == r.data_interval_start == r.logical_date for r in runs)
    assert all(r.run_type == dag_run_pb2.DAG_RUN_TYPE_SCHEDULED for r in runs)


async def test_the_teardown_runs_after_failed_work_and_the_run_fails(api: StateClient) -> None:
    ok = await run_to_end(api, "example_setup_teardown")
    assert ok.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    broken = await run_to_end(api, "example_setup_teardown", {"fail": True})
    assert broken.state == dag_run_pb2.DAG_RUN_STATE_FAILED
    assert await states_of(api, broken) == {
        "create_scratch": SUCCESS,
        "write_report": ti_enums.TASK_INSTANCE_STATE_FAILED,
        "remove_scratch": SUCCESS,
    }
    folder = (await xcoms_of(api, broken))["create_scratch"]
    assert f"removed {folder}" in await log_of(api, broken, "remove_scratch")


def calendar_branch_states(logical_date: datetime) -> dict[str, int]:
    """What example_branch_operators' weekday and hour branches give for a logical date."""
    weekend = logical_date.isoweekday() in (6, 7)
    early = logical_date.time() <= time_of_day(6, 0)  # the bounds are included
    return {
        "weekend_check": SUCCESS,
        "weekend_report": SUCCESS if weekend else SKIPPED,
        "weekday_report": SKIPPED if weekend else SUCCESS,
        "early_hours_check": SUCCESS,
        "full_refresh": SUCCESS if early else SKIPPED,
        "incremental_refresh": SKIPPED if early else SUCCESS,
        "latest_only": SUCCESS,
        "archive": SUCCESS,
    }


async def test_calendar_branches_and_latest_only_in_scheduled_and_manual_runs(
    api: StateClient,
) -> None:
    dag_id = "example_branch_operators"
    unpaused_at = datetime.now(UTC)
    await api.api.UnpauseDag(api_rr.UnpauseDagRequest(dag_id=dag_id))
    deadline = time.monotonic() + 60
    while True:
        runs = (await api.api.ListDagRuns(api_rr.ListDagRunsRequest(dag_id=dag_id))).dag_runs
        done = [r for r in runs if r.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS]
        if len(done) >= 3:
            break
        assert time.monotonic() < deadline, [(r.run_id, r.state) for r in runs]
        await asyncio.sleep(0.2)
    finished_at = datetime.now(UTC)
    assert all(r.run_type == dag_run_pb2.DAG_RUN_TYPE_SCHEDULED for r in done)
    notified = []
    for run in done:
        logical = run.logical_date.ToDatetime(tzinfo=UTC)
        # A trigger timetable's run covers its tick alone.
        assert run.data_interval_end.ToDatetime(tzinfo=UTC) == logical
        states = await states_of(api, run)
        notify = states.pop("notify")
        notified.append(notify)
        assert states == calendar_branch_states(logical), run.run_id
        # A daily run is the latest until the next tick.
        if logical + timedelta(days=1) < unpaused_at:  # the days caught up
            assert notify == SKIPPED, run.run_id
        elif logical + timedelta(days=1) >= finished_at:
            assert notify == SUCCESS, run.run_id
    assert SKIPPED in notified  # the days caught up do not notify

    manual = await run_to_end(api, dag_id)
    assert manual.run_type == dag_run_pb2.DAG_RUN_TYPE_MANUAL
    assert manual.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert await states_of(api, manual) == {
        **calendar_branch_states(manual.logical_date.ToDatetime(tzinfo=UTC)),
        "notify": SUCCESS,  # a manual run is never skipped by LatestOnlyOperator
    }


def mapped_items(deployment: Deployment) -> int:
    """How many items the mapping example maps over on a deployment.

    500 on SQLite; on PostgreSQL 200, or 500 with ``TEST_SCALE=long`` (the suite's time
    budget); 20 on the replicated deployment, which shows the same across replicas.
    """
    if deployment.replicated:
        return 20
    if deployment.backend == "postgresql" and not long_form():
        return 200
    return 500


#: For tests of what one task does: the replicated deployment would add nothing to them.
ONE_REPLICA = pytest.mark.parametrize("deployment", BACKENDS, indirect=True)


async def instances_of(
    client: StateClient, run: run_pb2.DagRun, task_id: str
) -> list[run_pb2.TaskInstance]:
    listing = await client.api.ListTaskInstances(
        api_rr.ListTaskInstancesRequest(
            dag_id=run.dag_id, run_id=run.run_id, task_ids=[task_id], page_size=1000
        )
    )
    return sorted(listing.task_instances, key=lambda ti: ti.key.map_index)


async def mapped_values(client: StateClient, run: run_pb2.DagRun, task_id: str) -> list[object]:
    listing = await client.api.ListXComs(
        api_rr.ListXComsRequest(
            dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, page_size=1000
        )
    )
    return [json.loads(x.value_json) for x in listing.xcoms if x.xcom_key == "return_value"]


@pytest.mark.timeout(240)
async def test_a_mapped_task_runs_once_per_item_and_its_reduce_sees_them_in_order(
    api: StateClient, deployment: Deployment
) -> None:
    count = mapped_items(deployment)
    run = await run_to_end(api, "example_dynamic_task_mapping", {"count": count}, within=180)
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    doubled = await instances_of(api, run, "double")
    assert [ti.key.map_index for ti in doubled] == list(range(count))
    assert {ti.state for ti in doubled} == {SUCCESS}
    assert [ti.key.map_index for ti in doubled if ti.try_number == 2] == [7]  # retried alone
    assert doubled[7].rendered_map_index == "number 7"
    assert await mapped_values(api, run, "double") == [2 * n for n in range(count)]
    assert await mapped_values(api, run, "total") == [sum(2 * n for n in range(count))]
    assert await mapped_values(api, run, "add") == [11, 21, 31, 12, 22, 32]
    assert await mapped_values(api, run, "greet") == ["hello", "world"]
    assert await mapped_values(api, run, "file_pipeline.extract") == [
        "contents of a.csv",
        "contents of bb.csv",
    ]
    assert await mapped_values(api, run, "summary") == [17 + 18]
    seven = run_pb2.TaskInstanceKey(
        dag_id=run.dag_id, run_id=run.run_id, task_id="double", map_index=7
    )
    first = await api.api.GetTaskInstanceLogs(
        api_rr.GetTaskInstanceLogsRequest(key=seven, try_number=1)
    )
    second = await api.api.GetTaskInstanceLogs(api_rr.GetTaskInstanceLogsRequest(key=seven))
    assert "7 fails on its first try" in "\n".join(line.message for line in first.lines)
    assert "doubling 7" in "\n".join(line.message for line in second.lines)


@ONE_REPLICA
async def test_an_empty_list_skips_the_mapped_task_and_the_reduce(api: StateClient) -> None:
    run = await run_to_end(api, "example_dynamic_task_mapping", {"count": 0})
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    states = await states_of(api, run)
    assert (states["double"], states["total"]) == (SKIPPED, SKIPPED)
    (unexpanded,) = await instances_of(api, run, "double")
    assert not unexpanded.key.HasField("map_index")


@ONE_REPLICA
async def test_a_retry_finds_what_its_first_try_kept_in_the_task_state_store(
    api: StateClient,
) -> None:
    run = await run_to_end(api, "example_task_state_store")
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    key = run_pb2.TaskInstanceKey(dag_id=run.dag_id, run_id=run.run_id, task_id="submit")
    stored = await api.api.ListTaskState(api_rr.ListTaskStateRequest(key=key))
    entries = {entry.state_key: entry for entry in stored.entries}
    job_id = json.loads(entries["job_id"].value_json)
    assert (await xcoms_of(api, run))["submit"] == job_id  # the retry did not submit again
    assert entries["job_id"].HasField("expires_at")
    assert not entries["first_try"].HasField("expires_at")  # NEVER_EXPIRE
    assert json.loads(entries["first_try"].value_json) == 1
    assert f"resumed {job_id}, submitted by try 1" in await log_of(api, run, "submit")


@ONE_REPLICA
async def test_callables_run_in_a_fresh_virtualenv_and_in_another_interpreter(
    api: StateClient,
) -> None:
    run = await run_to_end(api, "example_python_virtualenv")
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    values = await xcoms_of(api, run)
    assert values["virtualenv_python"] == [0, 1, 4, 9]
    assert values["external_python"] == "sum=14"
    assert values["report"] == "squares=[0, 1, 4, 9] sum=14"
    assert "Running in the virtual environment" in await log_of(api, run, "virtualenv_python")


async def test_sensors_wait_deferred_and_rescheduled_and_a_triggered_run_is_awaited(
    api: StateClient,
) -> None:
    run = await run_to_end(api, "example_sensors", within=90)
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert await states_of(api, run) == {
        "wait_a_second": SUCCESS,
        "third_poke": SUCCESS,
        "run_etl": SUCCESS,
    }
    xcoms = await xcoms_of(api, run)
    assert xcoms["third_poke"] == 3
    key = run_pb2.TaskInstanceKey(dag_id=run.dag_id, run_id=run.run_id, task_id="third_poke")
    sensor = (await api.api.GetTaskInstance(api_rr.GetTaskInstanceRequest(key=key))).task_instance
    assert sensor.try_number == 1
    assert sensor.reschedule_count == 2
    listing = await api.api.ListXComs(
        api_rr.ListXComsRequest(dag_id=run.dag_id, run_id=run.run_id, task_id="run_etl")
    )
    etl_run_id = next(
        json.loads(x.value_json) for x in listing.xcoms if x.xcom_key == "trigger_run_id"
    )
    etl = await api.api.GetDagRun(
        api_rr.GetDagRunRequest(key=run_pb2.DagRunKey(dag_id="example_etl", run_id=etl_run_id))
    )
    assert etl.dag_run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert json.loads(etl.dag_run.conf_json) == {"multiplier": 2}


@ONE_REPLICA  # the fault suite holds assets across replicas and kills
async def test_a_producer_of_two_assets_triggers_the_consumer_scheduled_on_both(
    api: StateClient,
) -> None:
    produced = await run_to_end(api, "example_asset_producer")
    assert produced.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS

    async def consumer_run() -> run_pb2.DagRun | None:
        listing = await api.api.ListDagRuns(
            api_rr.ListDagRunsRequest(
                dag_id="example_asset_consumer",
                run_types=[dag_run_pb2.DAG_RUN_TYPE_ASSET_TRIGGERED],
                states=[dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED],
            )
        )
        return listing.dag_runs[0] if listing.dag_runs else None

    deadline = time.monotonic() + 60
    while (run := await consumer_run()) is None:
        assert time.monotonic() < deadline, "example_asset_consumer did not run"
        await asyncio.sleep(0.2)
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    report: Any = (await xcoms_of(api, run))["report"]
    assert report["latest_orders_source"] == "example_asset_producer"
    assert report["rows"]["s3://example/orders.parquet"] >= 3
    assert report["rows"]["customers"] >= 2


async def asset_triggered_runs(
    client: StateClient, dag_id: str, count: int, *, within: float = 60
) -> list[run_pb2.DagRun]:
    """Wait until ``dag_id`` has ``count`` finished asset-triggered runs; oldest first."""
    deadline = time.monotonic() + within
    while True:
        listing = await client.api.ListDagRuns(
            api_rr.ListDagRunsRequest(
                dag_id=dag_id,
                run_types=[dag_run_pb2.DAG_RUN_TYPE_ASSET_TRIGGERED],
                states=[dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED],
            )
        )
        if len(listing.dag_runs) >= count:
            return list(reversed(listing.dag_runs))
        assert time.monotonic() < deadline, f"{dag_id} has not run {count} times"
        await asyncio.sleep(0.2)


@ONE_REPLICA
async def test_asset_functions_chain_and_keep_a_watermark_in_the_asset_state_store(
    api: StateClient,
) -> None:
    for batches in (1, 2):
        produced = await run_to_end(api, "example_raw_orders")
        assert produced.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        totals = await asset_triggered_runs(api, "example_order_totals", batches)
        assert totals[-1].state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        shown: Any = (await xcoms_of(api, totals[-1]))["example_order_totals"]
        assert shown == {
            "source": "file:///tmp/tradewind-examples/raw_orders.json",
            "batches": batches,
        }
    state = await api.api.ListAssetState(api_rr.ListAssetStateRequest(name="example_raw_orders"))
    (entry,) = state.entries
    assert (entry.key, json.loads(entry.value_json), entry.writer_task_id) == (
        "batches_totalled",
        2,
        "example_order_totals",
    )
    sides = await asset_triggered_runs(api, "example_order_sides", 1)
    assert sides[0].state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    for name in ("example_buy_orders", "example_sell_orders"):
        events = await api.api.ListAssetEvents(api_rr.ListAssetEventsRequest(asset_name=name))
        assert len(events.asset_events) >= 1


@ONE_REPLICA
async def test_a_file_landing_in_the_inbox_runs_the_dag_on_its_asset(api: StateClient) -> None:
    inbox = Path(tempfile.gettempdir()) / "tradewind-example-inbox"  # as the services see it
    await asyncio.to_thread(inbox.mkdir, parents=True, exist_ok=True)
    flag = inbox / "orders.flag"
    await asyncio.to_thread(flag.write_text, "landed")
    (run,) = await asset_triggered_runs(api, "example_on_landing", 1)
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert (await xcoms_of(api, run))["load"] == 1
    assert not await asyncio.to_thread(flag.exists)  # the watcher took it


@ONE_REPLICA
async def test_timetables_give_their_next_runs_once_unpaused(api: StateClient) -> None:
    unpaused_at = datetime.now(UTC)
    for dag_id in ("example_weekday_report", "example_twice_a_day", "example_release_days"):
        await api.api.UnpauseDag(api_rr.UnpauseDagRequest(dag_id=dag_id))

    async def scheduled(dag_id: str) -> list[run_pb2.DagRun]:
        listing = await api.api.ListDagRuns(
            api_rr.ListDagRunsRequest(dag_id=dag_id, run_types=[dag_run_pb2.DAG_RUN_TYPE_SCHEDULED])
        )
        return list(listing.dag_runs)

    deadline = time.monotonic() + 60
    while True:
        weekday, twice = (
            await scheduled("example_weekday_report"),
            await scheduled("example_twice_a_day"),
        )
        release = (await api.api.GetDag(api_rr.GetDagRequest(dag_id="example_release_days"))).dag
        if weekday and twice and release.HasField("next_dagrun_logical_date"):
            break
        assert time.monotonic() < deadline, (len(weekday), len(twice))
        await asyncio.sleep(0.2)
    # catchup=False: the latest past tick runs at once, its data interval the day before it.
    (report,) = weekday
    end = report.data_interval_end.ToDatetime(tzinfo=UTC)
    assert report.data_interval_start.ToDatetime(tzinfo=UTC) == end - timedelta(days=1)
    assert report.logical_date == report.data_interval_start
    paris = end.astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.hour, paris.minute, paris.isoweekday() <= 5) == (6, 0, True)
    assert end <= unpaused_at
    (sync,) = twice
    tick = sync.logical_date.ToDatetime(tzinfo=UTC)
    assert (tick.hour, tick.minute) in ((7, 0), (18, 30))
    assert tick <= unpaused_at
    # Events in the future: none has run, the first is next.
    assert not await scheduled("example_release_days")
    assert release.next_dagrun_logical_date.ToDatetime(tzinfo=UTC) == datetime(
        2027, 1, 4, 9, tzinfo=UTC
    )
    for dag_id in ("example_weekday_report", "example_twice_a_day", "example_release_days"):
        await api.api.PauseDag(api_rr.PauseDagRequest(dag_id=dag_id))


async def partition_runs(
    client: StateClient, dag_id: str, keys: set[str], *, within: float = 60
) -> dict[str, run_pb2.DagRun]:
    """Wait until ``dag_id`` has a finished run for each partition key; the latest of each."""
    deadline = time.monotonic() + within
    while True:
        listing = await client.api.ListDagRuns(
            api_rr.ListDagRunsRequest(
                dag_id=dag_id,
                states=[dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED],
                page_size=100,
            )
        )
        found = {r.partition_key: r for r in reversed(listing.dag_runs) if r.partition_key in keys}
        if set(found) == keys:
            return found
        assert time.monotonic() < deadline, f"{dag_id} ran for {sorted(found)}, not {sorted(keys)}"
        await asyncio.sleep(0.2)


async def test_a_partition_run_makes_its_consumer_run_for_the_partition_it_maps_to(
    api: StateClient,
) -> None:
    produced = await run_to_end(
        api, "example_ingest_player_stats", partition_key="2026-06-14T03:00:00"
    )
    assert produced.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert produced.partition_key == "2026-06-14T03:00:00"
    assert produced.partition_date.ToDatetime(tzinfo=UTC) == datetime(2026, 6, 14, 3, tzinfo=UTC)
    events = await api.api.ListAssetEvents(
        api_rr.ListAssetEventsRequest(asset_name="player_stats", source_run_id=produced.run_id)
    )
    assert [e.partition_key for e in events.asset_events] == ["2026-06-14T03:00:00"]
    runs = await partition_runs(api, "example_hourly_player_report", {"2026-06-14T03"})
    run = runs["2026-06-14T03"]
    assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    assert run.run_type == dag_run_pb2.DAG_RUN_TYPE_ASSET_TRIGGERED
    assert (await xcoms_of(api, run))["report"] == {
        "partition_key": "2026-06-14T03",
        "partition_date": "2026-06-14T03:00:00+00:00",
        "upstream_keys": ["2026-06-14T03:00:00"],
    }


@ONE_REPLICA
async def test_regions_named_at_runtime_roll_up_into_one_run_each_summary(
    api: StateClient,
) -> None:
    produced = await run_to_end(api, "example_ingest_regional_sales")
    assert produced.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    events = await api.api.ListAssetEvents(
        api_rr.ListAssetEventsRequest(asset_name="regional_sales", source_run_id=produced.run_id)
    )
    assert sorted(e.partition_key for e in events.asset_events) == ["apac", "eu", "us"]
    for dag_id, key in (
        ("example_all_regions_summary", "all_regions"),
        ("example_two_regions_summary", "any_two_regions"),
    ):
        run = (await partition_runs(api, dag_id, {key}))[key]
        assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        shown: Any = next(iter((await xcoms_of(api, run)).values()))
        assert shown == {
            "partition_key": key,
            "partition_date": None,
            "upstream_keys": ["apac", "eu", "us"],
        }


@ONE_REPLICA
async def test_a_weekly_partition_fans_out_to_a_run_per_day(api: StateClient) -> None:
    produced = await run_to_end(
        api, "example_train_weekly_model", partition_key="2026-06-08T00:00:00"
    )
    assert produced.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    days = {f"2026-06-{day:02d}" for day in range(8, 15)}
    runs = await partition_runs(api, "example_daily_inference", days)
    for day, run in runs.items():
        assert run.state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        assert run.partition_date.ToDatetime(tzinfo=UTC) == datetime.fromisoformat(day).replace(
            tzinfo=UTC
        )
        shown: Any = (await xcoms_of(api, run))["infer"]
        assert shown["upstream_keys"] == ["2026-06-08T00:00:00"]
    pending = await api.api.ListQueuedAssetEvents(
        api_rr.ListQueuedAssetEventsRequest(
            dag_id="example_daily_inference", include_pending_partitions=True
        )
    )
    assert list(pending.pending_partitions) == []
