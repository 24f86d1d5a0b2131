"""The state store's asset rules, as plain functions on real databases: who gets queued, the
compare-and-set that creates an asset-triggered run, and what each run consumes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from protos.dag.v1 import message_pb2 as dag_pb2
from services.state.db import models
from services.state.db.engine import Database
from services.state.housekeeping import ensure_default_pool
from services.state.store import assets
from services.state.store.admission import Refusal
from services.state.store.dag_files import store_dag
from tests.helpers.dags import make_dag

ORDERS = dag_pb2.Asset(name="orders", uri="s3://lake/orders", group="asset", extra_json="{}")
USERS = dag_pb2.Asset(name="users", uri="users", group="asset", extra_json="{}")


def condition(*parts: dag_pb2.Asset) -> dag_pb2.AssetCondition:
    return dag_pb2.AssetCondition(
        all=dag_pb2.AssetConditions(parts=[dag_pb2.AssetCondition(asset=p) for p in parts])
    )


def store(
    database: Database,
    dag_id: str,
    *,
    on: dag_pb2.AssetCondition | None = None,
    outlets: list[dag_pb2.TaskAsset] | None = None,
    paused: bool = False,
    max_active_runs: int = 16,
) -> None:
    serialized = make_dag(
        dag_id,
        {"t": []},
        paused=paused,
        max_active_runs=max_active_runs,
        assets=on,
        outlets={"t": outlets or []},
    )

    def write(session: Any) -> None:
        ensure_default_pool(session)
        store_dag(session, serialized, datetime.now(UTC))

    database.run_write(write)


def emit(database: Database, asset: dag_pb2.Asset, extra: str = "{}") -> assets.RecordedEvent:
    return database.run_write(
        lambda s: assets.emit_asset_event(
            s, name="", uri=asset.uri, extra_json=extra, now=datetime.now(UTC)
        )
    )


def queue(database: Database, dag_id: str) -> list[assets.QueuedEvent]:
    return database.run_write(lambda s: assets.queued_events(s, [dag_id]).get(dag_id, []))


def create(
    database: Database, dag_id: str, rows: list[assets.QueuedEvent]
) -> tuple[Refusal | None, models.DagRun | None]:
    request = assets.AssetRunRequest(
        dag_id,
        "",
        tuple(assets.ConsumedKey(q.asset.name, q.asset.uri, q.created_at) for q in rows),
    )
    return database.run_write(
        lambda s: assets.create_asset_triggered_run(s, request, datetime.now(UTC))
    )


def consumed_by(database: Database, dag_id: str, run_id: str) -> list[int]:
    def read(session: Any) -> list[int]:
        run = session.scalar(
            select(models.DagRun.id).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
        return sorted(
            session.scalars(
                select(models.DagRunAssetEvent.asset_event_id).where(
                    models.DagRunAssetEvent.dag_run_id == run
                )
            )
        )

    return database.run_write(read)


def test_an_event_queues_the_unpaused_dags_scheduled_on_its_asset(database: Database) -> None:
    store(database, "producer", outlets=[dag_pb2.TaskAsset(asset=ORDERS)])
    store(database, "consumer", on=condition(ORDERS))
    store(database, "paused_consumer", on=condition(ORDERS), paused=True)
    store(
        database,
        "by_reference",
        on=dag_pb2.AssetCondition(reference=dag_pb2.AssetReference(name="orders")),
    )
    recorded = emit(database, ORDERS, '{"rows": 1}')
    assert recorded.queued_dag_ids == ["by_reference", "consumer"]
    emit(database, ORDERS)
    (row,) = queue(database, "consumer")  # one row per asset, however many events
    assert row.asset.uri == "s3://lake/orders"
    assert queue(database, "paused_consumer") == []


def test_a_run_is_one_compare_and_set_and_consumes_exactly_its_queued_events(
    database: Database,
) -> None:
    store(database, "both", on=condition(ORDERS, USERS), max_active_runs=1)
    first = emit(database, ORDERS).event.id
    second = emit(database, ORDERS).event.id
    third = emit(database, USERS).event.id
    rows = queue(database, "both")
    stale = [
        assets.QueuedEvent(r.dag_id, r.asset, r.created_at - timedelta(seconds=1), r.aliases)
        for r in rows
    ]
    refusal, run = create(database, "both", stale)
    assert (refusal, run) == (Refusal.STATE_CONFLICT, None)
    refusal, run = create(database, "both", rows)
    assert refusal is None
    assert run is not None
    assert consumed_by(database, "both", run.run_id) == sorted([first, second, third])
    assert queue(database, "both") == []
    # The same decision again (another scheduler's) changes nothing.
    assert create(database, "both", rows) == (Refusal.STATE_CONFLICT, None)
    # A DAG at max_active_runs keeps its queue.
    emit(database, ORDERS)
    emit(database, USERS)
    assert create(database, "both", queue(database, "both"))[0] == Refusal.ACTIVE_RUNS_LIMIT
    assert len(queue(database, "both")) == 2


def test_alias_outlets_create_assets_and_group_events_by_extra(database: Database) -> None:
    alias = dag_pb2.TaskAsset(alias=dag_pb2.AssetAlias(name="days", group="asset"))
    reference = dag_pb2.TaskAsset(reference=dag_pb2.AssetReference(uri="s3://lake/orders"))
    store(database, "writer", outlets=[alias, reference])
    store(database, "orders_def", outlets=[dag_pb2.TaskAsset(asset=ORDERS)])
    store(database, "on_days", on=dag_pb2.AssetCondition(alias=dag_pb2.AssetAlias(name="days")))
    day = dag_pb2.Asset(name="day=1", uri="s3://lake/day=1", group="asset", extra_json="{}")
    reports = [
        assets.OutletReport(asset=day, extra_json='{"n": 1}', source_alias_name="days"),
        assets.OutletReport(asset=day, extra_json='{"n": 1}', source_alias_name="days"),
        assets.OutletReport(asset=day, extra_json='{"n": 2}', source_alias_name="days"),
        assets.OutletReport(asset=day, extra_json='{"n": 3}', source_alias_name="not_an_outlet"),
        assets.OutletReport(asset=ORDERS, extra_json='{"rows": 9}'),
    ]

    def write(session: Any) -> list[assets.RecordedEvent]:
        ti = models.TaskInstance(dag_id="writer", run_id="r", task_id="t", map_index=-1)
        task = dag_pb2.TaskDefinition(task_id="t", outlets=[alias, reference])
        return assets.record_outlet_events(session, ti, task, reports, datetime.now(UTC))

    recorded = database.run_write(write)
    described = sorted(
        (r.asset.uri, r.event.extra_json, r.event.source_aliases_json) for r in recorded
    )
    assert described == [
        ("s3://lake/day=1", '{"n": 1}', '["days"]'),
        ("s3://lake/day=1", '{"n": 2}', '["days"]'),
        ("s3://lake/orders", '{"rows": 9}', "[]"),
    ]
    (queued,) = queue(database, "on_days")
    assert queued.asset.uri == "s3://lake/day=1"
    assert queued.aliases == ("days",)


def test_a_dag_no_longer_scheduled_on_assets_forgets_its_queue(database: Database) -> None:
    store(database, "consumer", on=condition(ORDERS))
    store(database, "producer", outlets=[dag_pb2.TaskAsset(asset=ORDERS)])
    emit(database, ORDERS)
    assert queue(database, "consumer")
    store(database, "consumer")
    assert queue(database, "consumer") == []


def store_team_dag(
    database: Database,
    dag_id: str,
    team: str,
    *,
    on: dag_pb2.Asset | None = None,
    outlets: list[dag_pb2.TaskAsset] | None = None,
) -> None:
    serialized = make_dag(
        dag_id,
        {"t": []},
        assets=dag_pb2.AssetCondition(asset=on) if on is not None else None,
        outlets={"t": outlets or []},
    )
    serialized.definition.team = team

    def write(session: Any) -> None:
        ensure_default_pool(session)
        store_dag(session, serialized, datetime.now(UTC))

    database.run_write(write)


def with_access(asset: dag_pb2.Asset, **fields: Any) -> dag_pb2.Asset:
    copied = dag_pb2.Asset()
    copied.CopyFrom(asset)
    copied.access_control.CopyFrom(dag_pb2.AssetAccessControl(**fields))
    return copied


def test_with_multi_team_an_event_queues_the_consumers_the_teams_allow(database: Database) -> None:
    outlet = with_access(ORDERS, consumer_teams=dag_pb2.TeamList(teams=["sales"]))
    store_team_dag(database, "ops_producer", "ops", outlets=[dag_pb2.TaskAsset(asset=outlet)])
    store_team_dag(database, "teamless_consumer", "", on=ORDERS)
    store_team_dag(database, "sales_closed", "sales", on=ORDERS)
    store_team_dag(database, "sales_open", "sales", on=with_access(ORDERS, producer_teams=["ops"]))
    store_team_dag(database, "hr_open", "hr", on=with_access(ORDERS, producer_teams=["ops"]))

    def produce(session: Any) -> list[str]:
        definition = make_dag(
            "ops_producer", {"t": []}, outlets={"t": [dag_pb2.TaskAsset(asset=outlet)]}
        ).definition
        ti = models.TaskInstance(dag_id="ops_producer", run_id="r", task_id="t", map_index=-1)
        (recorded,) = assets.record_outlet_events(
            session, ti, definition.tasks[0], [], datetime.now(UTC), multi_team=True
        )
        return recorded.queued_dag_ids

    # sales_closed accepts only its own team; hr_open accepts ops, but the outlet reaches
    # sales (and its own team) only.
    assert database.run_write(produce) == ["sales_open", "teamless_consumer"]
    from_api = database.run_write(
        lambda s: assets.emit_asset_event(
            s, name="", uri=ORDERS.uri, extra_json="{}", now=datetime.now(UTC), multi_team=True
        )
    )
    assert from_api.queued_dag_ids == ["teamless_consumer"]  # a teamless caller
    assert emit(database, ORDERS).queued_dag_ids == [  # multi-team off: everyone
        "hr_open",
        "sales_closed",
        "sales_open",
        "teamless_consumer",
    ]
