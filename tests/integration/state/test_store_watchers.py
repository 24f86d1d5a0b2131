"""The state store's asset watcher rules on real databases: one watcher trigger per distinct
trigger of active, unpaused DAGs; leases as for triggers; each watcher event recorded once,
and only from the replica holding the watcher."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from protos.dag.v1 import message_pb2 as dag_pb2
from services.state.db import models
from services.state.db.engine import Database
from services.state.housekeeping import ensure_default_pool
from services.state.store import deferral, watchers
from services.state.store.dag_files import store_dag
from tests.helpers.dags import make_dag

LANDING = dag_pb2.Asset(name="landing", uri="file:///in/landing", group="asset", extra_json="{}")
OTHER = dag_pb2.Asset(name="other", uri="other", group="asset", extra_json="{}")
CLASSPATH = "tradewind.sdk.triggers.file.FileDeleteTrigger"
LEASE = timedelta(seconds=30)


def watched(dag_id: str, asset: dag_pb2.Asset, filepath: str, *, paused: bool = False) -> Any:
    serialized = make_dag(
        dag_id, {"t": []}, paused=paused, assets=dag_pb2.AssetCondition(asset=asset)
    )
    kwargs = json.dumps({"filepath": filepath, "poke_interval": 1.0})
    serialized.definition.asset_watchers.append(
        dag_pb2.AssetWatcherDefinition(
            asset=asset,
            name="flag",
            classpath=CLASSPATH,
            kwargs_json=kwargs,
            trigger_hash=hashlib.sha256(f"{CLASSPATH}\n{kwargs}".encode()).hexdigest(),
        )
    )
    definition = serialized.definition
    serialized.content_hash = hashlib.sha256(
        definition.SerializeToString(deterministic=True)
    ).hexdigest()
    return serialized


def store(database: Database, *dags: Any) -> None:
    def write(session: Any) -> None:
        ensure_default_pool(session)
        for dag in dags:
            store_dag(session, dag, datetime.now(UTC))

    database.run_write(write)


def sync(database: Database, triggerer: str, held: list[int] | None = None) -> Any:
    return database.run_write(
        lambda s: deferral.sync_triggers(
            s, triggerer, [], 100, LEASE, datetime.now(UTC), held or []
        )
    )


def report(database: Database, triggerer: str, watcher_id: int, event_id: str) -> list[str]:
    event = watchers.WatcherEventReport(watcher_id, json.dumps(True), event_id)
    return database.run_write(
        lambda s: watchers.record_watcher_events(s, triggerer, [event], datetime.now(UTC))
    )


def events(database: Database) -> list[tuple[str, str, str]]:
    def read(session: Any) -> list[tuple[str, str, str]]:
        rows = session.execute(
            select(models.Asset.name, models.AssetEvent.origin, models.AssetEvent.extra_json)
            .join(models.Asset, models.Asset.id == models.AssetEvent.asset_id)
            .order_by(models.AssetEvent.id)
        )
        return [tuple(row) for row in rows]

    return database.run_write(read)


def test_one_trigger_serves_the_watchers_that_share_it_and_events_count_once(
    database: Database,
) -> None:
    store(
        database,
        watched("first", LANDING, "/in/landing"),
        watched("second", OTHER, "/in/landing"),
        watched("paused", OTHER, "/in/elsewhere", paused=True),
    )
    got = sync(database, "a")
    # The paused DAG's watcher is not run; the two others share one trigger.
    assert len(got.leased_watchers) == 1
    leased = got.leased_watchers[0]
    assert sorted(a.name for a in leased.assets) == ["landing", "other"]
    watcher_id = leased.watcher.id
    assert sync(database, "b").leased_watchers == []  # a's until its lease ends

    assert report(database, "a", watcher_id, "e1") == ["e1"]
    assert report(database, "a", watcher_id, "e1") == ["e1"]  # a repeated report
    extra = json.dumps({"from_trigger": True, "payload": True})
    assert events(database) == [("landing", "watcher", extra), ("other", "watcher", extra)]
    # Another replica's report of a watcher it does not hold records nothing.
    assert report(database, "b", watcher_id, "e2") == []
    assert len(events(database)) == 2


def test_a_watcher_goes_when_no_active_unpaused_dag_wants_it(database: Database) -> None:
    store(database, watched("only", LANDING, "/in/landing"))
    (leased,) = sync(database, "a").leased_watchers

    def pause(session: Any) -> None:
        session.get(models.Dag, "only").is_paused = True

    database.run_write(pause)
    after = sync(database, "a", [leased.watcher.id])
    assert after.lost_watchers == [leased.watcher.id]
    assert report(database, "a", leased.watcher.id, "late") == []
    assert events(database) == []
