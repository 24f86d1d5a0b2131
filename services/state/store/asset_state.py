"""The asset state store (Airflow 3.3's ``asset_state_store``): key/values kept per asset.

A running try reads and writes the keys of the assets its task names among its inlets or
outlets (an asset or a reference to one), and of no other: task code reaches nothing beyond
its own try and the data it declares. Values outlive runs (a watermark of what was
processed); each key records who wrote it last.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from services.state.db.models import (
    Asset,
    AssetState,
    DagAssetReference,
    TaskInstance,
    WatcherTrigger,
)
from services.state.store.assets import INLET, OUTLET
from services.state.store.errors import Forbidden, NotFound
from services.state.store.execution import TryLease, verify_caller
from services.state.store.watchers import watched_assets

WRITER_TASK = "task"
WRITER_WATCHER = "watcher"
WRITER_API = "api"


def _named_by_task(session: Session, ti: TaskInstance, asset: Asset) -> bool:
    found = session.scalar(
        select(DagAssetReference.id)
        .where(
            DagAssetReference.dag_id == ti.dag_id,
            DagAssetReference.task_id == ti.task_id,
            DagAssetReference.role.in_([INLET, OUTLET]),
            or_(
                and_(
                    DagAssetReference.asset_name == asset.name,
                    DagAssetReference.asset_uri.in_([asset.uri, ""]),
                ),
                and_(DagAssetReference.asset_name == "", DagAssetReference.asset_uri == asset.uri),
            ),
        )
        .limit(1)
    )
    return found is not None


def _candidates(session: Session, name: str, uri: str) -> list[Asset]:
    column = Asset.name if name else Asset.uri
    return list(session.scalars(select(Asset).where(column == (name or uri)).order_by(Asset.id)))


def callers_asset(
    session: Session, lease: TryLease, now: datetime, *, name: str = "", uri: str = ""
) -> tuple[TaskInstance, Asset]:
    """The calling try's task instance and the asset it names, which its task must declare.

    Of the assets sharing the name (or URI), the one the task declares. Aliases give no
    access: a task may attach any asset to an alias, so an alias declares nothing.

    Raises:
        NotFound: no such asset.
        Forbidden: the task names the asset neither among its inlets nor its outlets.

    """
    ti = verify_caller(session, lease, now)
    candidates = _candidates(session, name, uri)
    if not candidates:
        raise NotFound("asset", f"{'name' if name else 'uri'}={name or uri}")
    for asset in candidates:
        if _named_by_task(session, ti, asset):
            return ti, asset
    asset = candidates[0]
    raise Forbidden(
        f"task {ti.dag_id}.{ti.task_id} names asset {asset.name!r} ({asset.uri}) neither"
        " among its inlets nor its outlets: add it to inlets= or outlets= to use its"
        " asset_state_store"
    )


def watchers_asset(
    session: Session, triggerer_id: str, watcher_id: int, *, name: str = "", uri: str = ""
) -> Asset:
    """An asset a watcher watches, for the triggerer holding the watcher.

    Raises:
        NotFound: no such watcher.
        Forbidden: the watcher is not the caller's, or watches no such asset.

    """
    watcher = session.get(WatcherTrigger, watcher_id)
    if watcher is None:
        raise NotFound("asset_watcher", str(watcher_id))
    if watcher.lease_owner != triggerer_id:
        raise Forbidden(f"asset watcher {watcher_id} is not held by triggerer {triggerer_id}")
    for asset in watched_assets(session, watcher.trigger_hash):
        if (name and asset.name == name) or (uri and asset.uri == uri):
            return asset
    raise Forbidden(f"asset watcher {watcher_id} watches no asset {name or uri!r}")


def get_asset_state(session: Session, asset: Asset, key: str) -> AssetState | None:
    """One key of an asset's store, or None."""
    return session.get(AssetState, (asset.id, key))


def set_asset_state(
    session: Session,
    asset: Asset,
    key: str,
    value_json: str,
    now: datetime,
    *,
    writer: TaskInstance | str,
) -> None:
    """Write a key, recording its writer: a task instance, or WRITER_WATCHER / WRITER_API."""
    row = session.get(AssetState, (asset.id, key), with_for_update=True)
    if row is None:
        row = AssetState(asset_id=asset.id, key=key)
        session.add(row)
    row.value_json = value_json
    row.updated_at = now
    task = writer if isinstance(writer, TaskInstance) else None
    row.writer_kind = WRITER_TASK if task is not None else str(writer)
    row.writer_dag_id = task.dag_id if task is not None else ""
    row.writer_run_id = task.run_id if task is not None else ""
    row.writer_task_id = task.task_id if task is not None else ""
    row.writer_map_index = task.map_index if task is not None else -1


def delete_asset_state(session: Session, asset: Asset, key: str | None) -> int:
    """Delete one key (or every key, for None); return how many went."""
    query = delete(AssetState).where(AssetState.asset_id == asset.id)
    if key is not None:
        query = query.where(AssetState.key == key)
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def list_asset_state(session: Session, asset: Asset) -> Sequence[AssetState]:
    """Every key of an asset's store, by key."""
    return list(
        session.scalars(
            select(AssetState).where(AssetState.asset_id == asset.id).order_by(AssetState.key)
        )
    )
