"""Asset watchers: the triggers that turn outside events into asset events.

A DAG's version declares watchers on the assets of its schedule (``Asset(...,
watchers=[AssetWatcher(name, trigger)])``). While such a DAG is active and unpaused, one
``watcher_trigger`` row per distinct trigger (class path and kwargs) exists for triggerer
replicas to lease, as they lease deferred tasks' triggers; the rows follow the DAGs at each
sync. Each event the trigger yields becomes an event of every asset it watches, recorded once
even when its report is repeated, and only from the replica holding the lease (or the one
that handed it back, while no other holds it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.asset_access import SourceAccess
from protos.dag.v1 import message_pb2 as dag_pb2
from services.state.db.models import Asset, AssetEvent, Dag, DagAssetWatcher, WatcherTrigger
from services.state.store.assets import (
    ORIGIN_WATCHER,
    ensure_asset,
    insert_ignoring_conflicts,
    record_asset_event,
)


def sync_dag_watchers(
    session: Session, dag: Dag, definition: dag_pb2.DagDefinition, now: datetime
) -> None:
    """Replace a DAG's watchers with those its new version declares."""
    session.execute(delete(DagAssetWatcher).where(DagAssetWatcher.dag_id == dag.dag_id))
    rows: dict[tuple[int, str], DagAssetWatcher] = {}
    for watcher in definition.asset_watchers:
        asset = ensure_asset(session, watcher.asset, now, define=False)
        rows[(asset.id, watcher.name)] = DagAssetWatcher(
            dag_id=dag.dag_id,
            asset_id=asset.id,
            name=watcher.name,
            classpath=watcher.classpath,
            kwargs_json=watcher.kwargs_json,
            trigger_hash=watcher.trigger_hash,
        )
    session.add_all(rows.values())


def _wanted(session: Session) -> dict[str, tuple[str, str]]:
    """The triggers of the watchers of active, unpaused DAGs, by hash."""
    rows = session.execute(
        select(DagAssetWatcher.trigger_hash, DagAssetWatcher.classpath, DagAssetWatcher.kwargs_json)
        .join(Dag, Dag.dag_id == DagAssetWatcher.dag_id)
        .where(Dag.is_active.is_(True), Dag.is_paused.is_(False))
    )
    return {trigger_hash: (classpath, kwargs) for trigger_hash, classpath, kwargs in rows}


def reconcile_watchers(session: Session, now: datetime) -> int:
    """Make the watcher triggers those of the active, unpaused DAGs; return their number.

    A trigger no DAG wants any more goes (its holder learns it lost it); a new one is free.
    """
    wanted = _wanted(session)
    existing = set(session.scalars(select(WatcherTrigger.trigger_hash)))
    gone = existing - set(wanted)
    if gone:
        session.execute(delete(WatcherTrigger).where(WatcherTrigger.trigger_hash.in_(gone)))
    insert_ignoring_conflicts(
        session,
        WatcherTrigger,
        [
            {
                "trigger_hash": trigger_hash,
                "classpath": classpath,
                "kwargs_json": kwargs,
                "created_at": now,
            }
            for trigger_hash, (classpath, kwargs) in sorted(wanted.items())
            if trigger_hash not in existing
        ],
    )
    return len(wanted)


@dataclass(frozen=True)
class LeasedWatcher:
    """A watcher trigger leased to a triggerer, with the assets it watches."""

    watcher: WatcherTrigger
    assets: list[Asset]
    #: A DAG file that declares it, relative to the DAG folder.
    relative_fileloc: str


def _watched(session: Session, trigger_hash: str) -> tuple[list[Asset], list[str]]:
    """The assets a watcher trigger watches for active, unpaused DAGs, and those DAGs' files."""
    rows = session.execute(
        select(Asset, Dag.relative_fileloc)
        .join(DagAssetWatcher, DagAssetWatcher.asset_id == Asset.id)
        .join(Dag, Dag.dag_id == DagAssetWatcher.dag_id)
        .where(
            DagAssetWatcher.trigger_hash == trigger_hash,
            Dag.is_active.is_(True),
            Dag.is_paused.is_(False),
        )
        .order_by(Asset.id, Dag.dag_id)
    ).all()
    assets = list({asset.id: asset for asset, _ in rows}.values())
    return assets, [fileloc for _, fileloc in rows]


def watched_assets(session: Session, trigger_hash: str) -> list[Asset]:
    """The assets a watcher trigger watches for active, unpaused DAGs."""
    return _watched(session, trigger_hash)[0]


def leased_watchers(session: Session, rows: Sequence[WatcherTrigger]) -> list[LeasedWatcher]:
    """What a triggerer needs to run each leased watcher trigger."""
    leased = []
    for row in rows:
        assets, files = _watched(session, row.trigger_hash)
        leased.append(LeasedWatcher(row, assets, files[0] if files else ""))
    return leased


@dataclass(frozen=True)
class WatcherEventReport:
    """One event a watcher trigger yielded."""

    watcher_id: int
    payload_json: str
    event_id: str


def record_watcher_events(
    session: Session,
    triggerer_id: str,
    reports: Sequence[WatcherEventReport],
    now: datetime,
    *,
    multi_team: bool = False,
) -> list[str]:
    """Record an asset event per watched asset for each report.

    Returns the event ids recorded, now or by an earlier report of the same event.
    """
    recorded = []
    for report in reports:
        if not report.event_id:
            continue
        watcher = session.get(WatcherTrigger, report.watcher_id, with_for_update=True)
        assets = _watched(session, watcher.trigger_hash)[0] if watcher is not None else []
        request_ids = {asset.id: f"{report.event_id}:{asset.id}" for asset in assets}
        done = set(
            session.scalars(
                select(AssetEvent.asset_id).where(
                    AssetEvent.request_id.in_(list(request_ids.values()))
                )
            )
        )
        # The holder's events count, and so do late ones of a replica that handed the
        # watcher back (no one holds it since); another replica's do not.
        if watcher is None or watcher.lease_owner not in (triggerer_id, None):
            if done:
                recorded.append(report.event_id)
            continue
        extra = json.dumps({"from_trigger": True, "payload": _payload(report.payload_json)})
        for asset in assets:
            if asset.id not in done:
                record_asset_event(
                    session,
                    asset,
                    extra_json=extra,
                    origin=ORIGIN_WATCHER,
                    now=now,
                    request_id=request_ids[asset.id],
                    # A watcher is no team's producer (Airflow records it without a task).
                    access=SourceAccess(teams=()) if multi_team else None,
                )
        recorded.append(report.event_id)
    return recorded


def _payload(payload_json: str) -> object:
    try:
        return json.loads(payload_json) if payload_json else None
    except json.JSONDecodeError:
        return payload_json
