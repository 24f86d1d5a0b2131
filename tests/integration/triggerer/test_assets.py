"""Assets through every real service on both backends: producers and consumers, conditions,
aliases, events from outside, several events making one run, failures recording none.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import eventually
from tests.integration.executor.runs import RUN, register, run_to_end, wait_for_run, xcom_values

pytestmark = pytest.mark.usefixtures("executor")

ASSET_TRIGGERED = dag_run_pb2.DAG_RUN_TYPE_ASSET_TRIGGERED
IMPORTS = """
        from tradewind import Asset, AssetAlias, Metadata
"""


async def asset_runs(client: StateClient, dag_id: str) -> list[run_pb2.DagRun]:
    """The asset-triggered runs of a DAG, oldest first."""
    response = await client.api.ListDagRuns(
        api_rr.ListDagRunsRequest(dag_id=dag_id, run_types=[ASSET_TRIGGERED], page_size=100)
    )
    return list(reversed(response.dag_runs))


async def wait_for_asset_runs(
    client: StateClient, dag_id: str, count: int, *, within: float = 20.0
) -> list[run_pb2.DagRun]:
    """Wait until a DAG has ``count`` asset-triggered runs, all finished; return them."""

    async def done() -> list[run_pb2.DagRun] | None:
        runs = await asset_runs(client, dag_id)
        finished = [
            r for r in runs if r.state in (RUN.DAG_RUN_STATE_SUCCESS, RUN.DAG_RUN_STATE_FAILED)
        ]
        return runs if len(runs) >= count and len(finished) == len(runs) else None

    return await eventually(done, within=within, what=f"{count} asset runs of {dag_id}")


async def events_of(client: StateClient, uri: str) -> list[object]:
    response = await client.api.ListAssetEvents(
        api_rr.ListAssetEventsRequest(asset_uri=uri, page_size=100)
    )
    return list(response.asset_events)


async def test_a_producer_triggers_its_consumer_with_the_event_and_its_extra(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "chain.py",
        IMPORTS
        + """
        orders = Asset("s3://warehouse/orders.parquet", extra={"team": "sales"})

        with DAG("orders_producer", schedule=None, start_date=START):
            @task(outlets=[orders])
            def write_orders(*, outlet_events):
                outlet_events[orders].extra = {"rows": 42}

            write_orders()

        with DAG("orders_consumer", schedule=[orders], start_date=START):
            @task
            def read_orders(*, triggering_asset_events):
                events = triggering_asset_events[orders]
                return {
                    "rows": events[-1].extra["rows"],
                    "source": events[-1].source_dag_id,
                    "count": len(events),
                }

            read_orders()
        """,
        ["orders_producer", "orders_consumer"],
    )
    produced = await run_to_end(client, "orders_producer")
    assert produced.state == RUN.DAG_RUN_STATE_SUCCESS
    (consumed,) = await wait_for_asset_runs(client, "orders_consumer", 1)
    assert consumed.state == RUN.DAG_RUN_STATE_SUCCESS, consumed
    assert consumed.run_id.startswith("asset_triggered__")
    value = json.loads((await xcom_values(client, consumed, "read_orders"))["return_value"])
    assert value == {"rows": 42, "source": "orders_producer", "count": 1}

    detail = (
        await client.api.GetAsset(api_rr.GetAssetRequest(uri="s3://warehouse/orders.parquet"))
    ).asset
    assert json.loads(detail.asset.extra_json) == {"team": "sales"}
    assert [(t.dag_id, t.task_id) for t in detail.producing_tasks] == [
        ("orders_producer", "write_orders")
    ]
    assert list(detail.scheduled_dag_ids) == ["orders_consumer"]
    assert detail.event_count == 1
    assert json.loads(detail.last_event.extra_json) == {"rows": 42}
    triggering = await client.api.ListAssetEvents(
        api_rr.ListAssetEventsRequest(
            consumed_by_dag_id="orders_consumer", consumed_by_run_id=consumed.run_id
        )
    )
    assert [e.source_run_id for e in triggering.asset_events] == [produced.run_id]


async def test_all_waits_for_both_assets_and_any_runs_on_either(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "conditions.py",
        IMPORTS
        + """
        left = Asset("left")
        right = Asset("right")

        for name, asset in (("make_left", left), ("make_right", right)):
            with DAG(name, schedule=None, start_date=START):
                BashOperator(task_id="make", bash_command="true", outlets=[asset])

        with DAG("needs_both", schedule=left & right, start_date=START):
            BashOperator(task_id="work", bash_command="true")

        with DAG("needs_either", schedule=left | right, start_date=START):
            BashOperator(task_id="work", bash_command="true")
        """,
        ["make_left", "make_right", "needs_both", "needs_either"],
    )
    await run_to_end(client, "make_left")
    await wait_for_asset_runs(client, "needs_either", 1)
    queued = await client.api.ListQueuedAssetEvents(
        api_rr.ListQueuedAssetEventsRequest(dag_id="needs_both")
    )
    assert [q.asset.name for q in queued.queued_asset_events] == ["left"]
    assert await asset_runs(client, "needs_both") == []

    await run_to_end(client, "make_right")
    (both,) = await wait_for_asset_runs(client, "needs_both", 1)
    assert both.state == RUN.DAG_RUN_STATE_SUCCESS
    await wait_for_asset_runs(client, "needs_either", 2)
    consumed = await client.api.ListAssetEvents(
        api_rr.ListAssetEventsRequest(
            consumed_by_dag_id="needs_both", consumed_by_run_id=both.run_id
        )
    )
    assert sorted(e.asset.name for e in consumed.asset_events) == ["left", "right"]
    assert not (
        await client.api.ListQueuedAssetEvents(
            api_rr.ListQueuedAssetEventsRequest(dag_id="needs_both")
        )
    ).queued_asset_events


async def test_a_failed_producer_records_no_event_and_an_emitted_one_triggers(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "failing.py",
        IMPORTS
        + """
        report = Asset("file:///reports/daily.csv")

        with DAG("broken_producer", schedule=None, start_date=START):
            BashOperator(task_id="make", bash_command="exit 3", outlets=[report])

        with DAG("report_consumer", schedule=[report], start_date=START):
            @task
            def read(*, triggering_asset_events):
                (event,) = triggering_asset_events[report]
                return [event.origin, event.extra]

            read()
        """,
        ["broken_producer", "report_consumer"],
    )
    failed = await run_to_end(client, "broken_producer")
    assert failed.state == RUN.DAG_RUN_STATE_FAILED
    assert await events_of(client, "file:///reports/daily.csv") == []
    await asyncio.sleep(1)
    assert await asset_runs(client, "report_consumer") == []

    emitted = await client.api.CreateAssetEvent(
        api_rr.CreateAssetEventRequest(uri="file:///reports/daily.csv", extra_json='{"by": "etl"}')
    )
    assert list(emitted.queued_dag_ids) == ["report_consumer"]
    assert emitted.asset_event.origin == "api"
    (run,) = await wait_for_asset_runs(client, "report_consumer", 1)
    assert run.state == RUN.DAG_RUN_STATE_SUCCESS
    value = json.loads((await xcom_values(client, run, "read"))["return_value"])
    assert value == ["api", {"by": "etl"}]


async def test_aliases_and_metadata_record_events_and_several_events_make_one_run(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "aliases.py",
        IMPORTS
        + """
        partitions = AssetAlias("daily-partitions")
        summary = Asset("summary")

        with DAG("partition_writer", schedule=None, start_date=START):
            @task(outlets=[partitions, summary])
            def write(*, outlet_events, dag_run):
                day = dag_run.conf.get("day", "01")
                outlet_events[partitions].add(
                    Asset(f"s3://lake/day={day}"), extra={"day": day}
                )
                yield Metadata(summary, {"day": day})
                return day

            write()

        with DAG("partition_reader", schedule=[partitions], start_date=START, max_active_runs=1):
            @task
            def read(*, triggering_asset_events):
                time.sleep(2)
                return sorted(e.extra["day"] for e in triggering_asset_events[partitions])

            read()
        """,
        ["partition_writer", "partition_reader"],
    )
    first = await run_to_end(client, "partition_writer")
    assert json.loads((await xcom_values(client, first, "write"))["return_value"]) == "01"
    summary = await events_of(client, "summary")
    assert [json.loads(e.extra_json) for e in summary] == [{"day": "01"}]  # type: ignore[attr-defined]
    day_one = await events_of(client, "s3://lake/day=01")
    assert [list(e.source_aliases) for e in day_one] == [["daily-partitions"]]  # type: ignore[attr-defined]

    async def reading() -> bool:
        runs = await asset_runs(client, "partition_reader")
        return bool(runs) and runs[0].state == RUN.DAG_RUN_STATE_RUNNING

    await eventually(reading, what="the first reader run running")
    # Two more writes while the reader's only run slot is taken: one run consumes both.
    for day in ("02", "03"):
        run = await client.api.TriggerDagRun(
            api_rr.TriggerDagRunRequest(
                dag_id="partition_writer", run_id=f"day_{day}", conf_json=json.dumps({"day": day})
            )
        )
        await wait_for_run(client, "partition_writer", run.dag_run.run_id)
    runs = await wait_for_asset_runs(client, "partition_reader", 2, within=30)
    assert len(runs) == 2
    values = [json.loads((await xcom_values(client, run, "read"))["return_value"]) for run in runs]
    assert values == [["01"], ["02", "03"]]
    detail = (await client.api.GetAsset(api_rr.GetAssetRequest(uri="s3://lake/day=02"))).asset
    assert list(detail.aliases) == ["daily-partitions"]
    assert list(detail.scheduled_dag_ids) == ["partition_reader"]


async def test_an_asset_decorated_function_materialises_and_its_reader_gets_it_by_name(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "decorated.py",
        """
        from tradewind import Asset, asset

        @asset(schedule=None, uri="s3://lake/raw_quotes")
        def raw_quotes(self, outlet_events):
            outlet_events[self].extra = {"rows": 3}
            return self.uri

        @asset(schedule=[raw_quotes])
        def quote_report(raw_quotes, self):
            return {"inlet": raw_quotes.uri, "self": self.name}

        @asset.multi(schedule=[raw_quotes], outlets=[Asset("quote_bids"), Asset("quote_asks")])
        def both_sides():
            return "both"
        """,
        ["raw_quotes", "quote_report", "both_sides"],
    )
    produced = await run_to_end(client, "raw_quotes")
    assert produced.state == RUN.DAG_RUN_STATE_SUCCESS
    (event,) = await events_of(client, "s3://lake/raw_quotes")
    assert json.loads(event.extra_json) == {"rows": 3}  # type: ignore[attr-defined]
    (report,) = await wait_for_asset_runs(client, "quote_report", 1)
    assert report.state == RUN.DAG_RUN_STATE_SUCCESS
    shown = json.loads((await xcom_values(client, report, "quote_report"))["return_value"])
    assert shown == {"inlet": "s3://lake/raw_quotes", "self": "quote_report"}
    (multi,) = await wait_for_asset_runs(client, "both_sides", 1)
    assert multi.state == RUN.DAG_RUN_STATE_SUCCESS
    for name in ("quote_bids", "quote_asks"):
        assert len(await events_of(client, name)) == 1


async def test_the_asset_state_store_keeps_a_watermark_across_runs_for_declared_assets_only(
    client: StateClient, dags_folder: Path
) -> None:
    await register(
        client,
        dags_folder,
        "watermarks.py",
        """
        from tradewind import Asset

        orders = Asset("s3://lake/orders_state")
        other = Asset("s3://lake/not_mine")

        with DAG("watermark", schedule=None, start_date=START):
            @task(inlets=[orders])
            def advance(*, asset_state_store):
                store = asset_state_store[orders]
                seen = store.get("watermark", 0)
                store.set("watermark", seen + 1)
                asset_state_store.set("last_run", "yes")  # its one concrete inlet
                return seen

            advance()

        with DAG("trespasser", schedule=None, start_date=START):
            @task(outlets=[orders])
            def reach(*, asset_state_store):
                from tradewind.sdk.asset_state import AssetStateStoreAccessor

                try:
                    AssetStateStoreAccessor(uri="s3://lake/not_mine").set("x", 1)
                except PermissionError as err:
                    return str(err)
                return "allowed"

            @task(outlets=[other])
            def mine():
                return None

            reach()
            mine()
        """,
        ["watermark", "trespasser"],
    )
    for expected in (0, 1):
        run = await run_to_end(client, "watermark")
        assert run.state == RUN.DAG_RUN_STATE_SUCCESS
        assert json.loads((await xcom_values(client, run, "advance"))["return_value"]) == expected
    listed = await client.api.ListAssetState(
        api_rr.ListAssetStateRequest(uri="s3://lake/orders_state")
    )
    entries = {e.key: e for e in listed.entries}
    assert sorted(entries) == ["last_run", "watermark"]
    assert json.loads(entries["watermark"].value_json) == 2
    assert (entries["watermark"].writer_kind, entries["watermark"].writer_task_id) == (
        "task",
        "advance",
    )
    refused = await run_to_end(client, "trespasser")
    message = json.loads((await xcom_values(client, refused, "reach"))["return_value"])
    assert "neither among its inlets nor its outlets" in message
    cleared = await client.api.ClearAssetState(
        api_rr.ClearAssetStateRequest(uri="s3://lake/orders_state", state_key="last_run")
    )
    assert cleared.deleted == 1
    listed = await client.api.ListAssetState(
        api_rr.ListAssetStateRequest(uri="s3://lake/orders_state")
    )
    assert [e.key for e in listed.entries] == ["watermark"]
