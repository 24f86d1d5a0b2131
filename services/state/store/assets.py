"""Assets: the catalogue DAGs name, the events tasks and callers record, and the run queue.

An event is recorded in the transaction that makes its producing task succeed (or in the
caller's, from outside), and in the same transaction every active, unpaused DAG scheduled on
its asset (directly, by reference, or through an alias the task attached the asset to) gets a
queue row, one per (asset, DAG) until that DAG's next asset-triggered run consumes it, and the
event itself is queued for the DAG. The scheduler decides from the queue when a DAG's condition
holds; creating the run is one compare-and-set on the queue rows it decided from, and the run
consumes exactly the events queued for it on those assets, each event by one run only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.asset_access import ConsumerAccess, SourceAccess, may_queue
from core.runs import run_id_for
from core.states import RUN_ACTIVE, DagRunType
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.enums.v1 import event_pb2
from services.runtime.timetables import condition_leaves
from services.state.db.event_log import record_event
from services.state.db.models import (
    Asset,
    AssetAlias,
    AssetAliasAsset,
    AssetAliasEvent,
    AssetDagRunQueue,
    AssetDagRunQueueEvent,
    AssetEvent,
    Dag,
    DagAssetReference,
    DagRun,
    DagRunAssetEvent,
    TaskInstance,
)
from services.state.store.admission import Refusal
from services.state.store.asset_aliases import aliases_of
from services.state.store.errors import InvalidInput, NotFound
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.partitions import sync_partitioning
from services.state.store.partitions import warn as warn_partition
from services.state.store.runs import create_asset_triggered_run_row, run_id_taken

SCHEDULE = "schedule"
OUTLET = "outlet"
INLET = "inlet"

ORIGIN_TASK = "task"
ORIGIN_API = "api"
ORIGIN_WATCHER = "watcher"

#: The most events one read returns.
MAX_EVENTS = 1000
#: Where a transaction counts the events it recorded (for metrics once it commits).
_RECORDED = "tradewind_asset_events_recorded"


# ---- the catalogue ----


def insert_ignoring_conflicts(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows, leaving out those a unique key already holds (another writer's too)."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).on_conflict_do_nothing(), rows)


def _extra_json(text: str) -> str:
    return text or "{}"


def ensure_asset(session: Session, asset: dag_pb2.Asset, now: datetime, *, define: bool) -> Asset:
    """The catalogue row of ``asset``, created when missing.

    Args:
        session: the transaction.
        asset: the asset's name, uri, group and extra.
        now: the transaction's time.
        define: the asset comes from a DAG file, whose group and extra replace the stored ones;
            False for an asset a task attached to an alias (an existing row is kept as is).

    """
    row = session.scalar(select(Asset).where(Asset.name == asset.name, Asset.uri == asset.uri))
    if row is None:
        insert_ignoring_conflicts(
            session,
            Asset,
            [
                {
                    "name": asset.name,
                    "uri": asset.uri,
                    "group": asset.group or "asset",
                    "extra_json": _extra_json(asset.extra_json),
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        row = session.scalar(select(Asset).where(Asset.name == asset.name, Asset.uri == asset.uri))
        assert row is not None
    elif define and (
        row.group != (asset.group or "asset") or row.extra_json != _extra_json(asset.extra_json)
    ):
        row.group = asset.group or "asset"
        row.extra_json = _extra_json(asset.extra_json)
        row.updated_at = now
    return row


def ensure_alias(session: Session, name: str, group: str = "") -> AssetAlias:
    """The catalogue row of an alias, created when missing."""
    row = session.scalar(select(AssetAlias).where(AssetAlias.name == name))
    if row is None:
        insert_ignoring_conflicts(session, AssetAlias, [{"name": name, "group": group or "asset"}])
        row = session.scalar(select(AssetAlias).where(AssetAlias.name == name))
        assert row is not None
    return row


def _reference_row(
    dag_id: str, role: str, task_id: str, item: dag_pb2.AssetCondition | dag_pb2.TaskAsset
) -> dict[str, Any]:
    row = {
        "dag_id": dag_id,
        "role": role,
        "task_id": task_id,
        "asset_name": "",
        "asset_uri": "",
        "alias_name": "",
        "access_json": "",
    }
    kind = item.WhichOneof("kind")
    if kind == "asset":
        row.update(asset_name=item.asset.name, asset_uri=item.asset.uri)
        if item.asset.HasField("access_control"):
            row.update(access_json=json.dumps(_access_fields(item.asset.access_control)))
    elif kind == "alias":
        row.update(alias_name=item.alias.name)
    elif kind == "reference":
        name, uri = reference_keys(item.reference)
        row.update(asset_name=name, asset_uri=uri)
    return row


def _access_fields(control: dag_pb2.AssetAccessControl) -> dict[str, Any]:
    return {
        "producer_teams": list(control.producer_teams),
        "consumer_teams": (
            list(control.consumer_teams.teams) if control.HasField("consumer_teams") else None
        ),
        "allow_global": control.allow_global if control.HasField("allow_global") else True,
    }


def source_access(
    session: Session, source: EventSource | None, outlet: dag_pb2.Asset | None = None
) -> SourceAccess:
    """Who an event comes from, for the multi-team rule.

    A task's: its DAG's team and its outlet's access control; one from outside: the API's
    (a teamless caller).
    """
    if source is None:
        return SourceAccess(teams=(), from_api=True)
    team = session.scalar(select(Dag.team).where(Dag.dag_id == source.dag_id)) or ""
    fields: dict[str, Any] = (
        _access_fields(outlet.access_control)
        if outlet is not None and outlet.HasField("access_control")
        else {"consumer_teams": None, "allow_global": True}
    )
    return SourceAccess(
        teams=(team,) if team else (),
        consumer_teams=fields["consumer_teams"],
        allow_global_consumers=fields["allow_global"],
    )


def _allowed(
    session: Session,
    asset: Asset,
    alias_names: Sequence[str],
    targets: Sequence[tuple[str, str]],
    access: SourceAccess,
) -> set[str]:
    """The consumers (dag_id, team) an event from ``access`` may queue, as Airflow decides."""
    names = _naming(asset)
    if alias_names:
        names = or_(names, DagAssetReference.alias_name.in_(list(alias_names)))
    controls: dict[str, dict[str, Any]] = {}
    for dag_id, text in session.execute(
        select(DagAssetReference.dag_id, DagAssetReference.access_json).where(
            DagAssetReference.role == SCHEDULE,
            DagAssetReference.dag_id.in_([dag_id for dag_id, _ in targets]),
            DagAssetReference.access_json != "",
            names,
        )
    ):
        controls.setdefault(dag_id, json.loads(text))
    allowed = set()
    for dag_id, team in targets:
        control = controls.get(dag_id, {})
        consumer = ConsumerAccess(
            team=team or None,
            producer_teams=control.get("producer_teams", []),
            allow_global_producers=control.get("allow_global", True),
        )
        if may_queue(consumer, access):
            allowed.add(dag_id)
    return allowed


def reference_keys(reference: dag_pb2.AssetReference) -> tuple[str, str]:
    """The (name, uri) of an ``Asset.ref``: one of them is empty."""
    return reference.name, reference.uri


def sync_dag_assets(
    session: Session, dag: Dag, definition: dag_pb2.DagDefinition, now: datetime
) -> None:
    """Register the assets and aliases a DAG version names and rewrite its references."""
    items: list[tuple[str, str, dag_pb2.AssetCondition | dag_pb2.TaskAsset]] = []
    if definition.schedule.HasField("assets"):
        items += [(SCHEDULE, "", leaf) for leaf in condition_leaves(definition.schedule.assets)]
    for task in definition.tasks:
        items += [(OUTLET, task.task_id, outlet) for outlet in task.outlets]
        items += [(INLET, task.task_id, inlet) for inlet in task.inlets]
    for _, _, item in items:
        kind = item.WhichOneof("kind")
        if kind == "asset":
            ensure_asset(session, item.asset, now, define=True)
        elif kind == "alias":
            ensure_alias(session, item.alias.name, item.alias.group)
    session.execute(delete(DagAssetReference).where(DagAssetReference.dag_id == dag.dag_id))
    rows = [_reference_row(dag.dag_id, role, task_id, item) for role, task_id, item in items]
    unique = list({tuple(sorted(r.items())): r for r in rows}.values())
    if unique:
        session.add_all(DagAssetReference(**r) for r in unique)
    dag.has_asset_schedule = definition.schedule.HasField("assets")
    was_partitioned = bool(dag.partitioning_hash)
    sync_partitioning(session, dag, definition)
    if not dag.has_asset_schedule or was_partitioned != bool(dag.partitioning_hash):
        # What was queued for the other kind of consumer cannot feed this one.
        for model in (AssetDagRunQueue, AssetDagRunQueueEvent):
            session.execute(delete(model).where(model.target_dag_id == dag.dag_id))


def _naming(asset: Asset) -> Any:
    """References that name ``asset``: by both keys, by name only, or by URI only."""
    return or_(
        and_(
            DagAssetReference.asset_name == asset.name,
            DagAssetReference.asset_uri.in_([asset.uri, ""]),
        ),
        and_(DagAssetReference.asset_name == "", DagAssetReference.asset_uri == asset.uri),
    )


def _scheduled_on(session: Session, asset: Asset, alias_names: Sequence[str]) -> list[str]:
    """The active, unpaused DAGs scheduled on the asset or on one of the aliases, by id."""
    names = _naming(asset)
    if alias_names:
        names = or_(names, DagAssetReference.alias_name.in_(list(alias_names)))
    query = (
        select(DagAssetReference.dag_id)
        .join(Dag, Dag.dag_id == DagAssetReference.dag_id)
        .where(
            DagAssetReference.role == SCHEDULE,
            Dag.is_active.is_(True),
            Dag.is_paused.is_(False),
            names,
        )
        .distinct()
    )
    return sorted(session.scalars(query))


def resolve_reference(session: Session, *, name: str = "", uri: str = "") -> Asset:
    """The asset an ``Asset.ref`` names (the oldest when several share the key)."""
    column = Asset.name if name else Asset.uri
    row = session.scalar(select(Asset).where(column == (name or uri)).order_by(Asset.id).limit(1))
    if row is None:
        raise NotFound("asset", f"{'name' if name else 'uri'}={name or uri}")
    return row


def find_asset(session: Session, *, name: str = "", uri: str = "") -> Asset:
    """An asset by name or by URI."""
    if not name and not uri:
        raise InvalidInput("key", "name or uri is required")
    return resolve_reference(session, name=name, uri=uri)


# ---- recording events ----


@dataclass(frozen=True)
class EventSource:
    """The task instance that produced an event."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int


@dataclass
class RecordedEvent:
    """An event recorded, and the DAGs it queued."""

    event: AssetEvent
    asset: Asset
    queued_dag_ids: list[str] = field(default_factory=list)


def record_asset_event(
    session: Session,
    asset: Asset,
    *,
    extra_json: str,
    origin: str,
    now: datetime,
    source: EventSource | None = None,
    alias_names: Sequence[str] = (),
    request_id: str | None = None,
    partition_key: str | None = None,
    partition_date: datetime | None = None,
    access: SourceAccess | None = None,
) -> RecordedEvent:
    """Record one event of ``asset`` and queue the DAGs scheduled on it.

    With ``access`` (the state service runs with --multi-team), only the consumers Airflow's
    team rules let the event's source reach (see :mod:`core.asset_access`).

    As in Airflow, an event for a partition is queued for partitioned consumers only, and one
    without a partition key for the others only (a partitioned consumer gets a warning).
    ``request_id`` makes it idempotent: the caller checks it is not taken.
    """
    aliases = sorted(set(alias_names))
    event = AssetEvent(
        asset_id=asset.id,
        extra_json=_extra_json(extra_json),
        source_dag_id=source.dag_id if source else "",
        source_task_id=source.task_id if source else "",
        source_run_id=source.run_id if source else "",
        source_map_index=source.map_index if source else -1,
        source_aliases_json=json.dumps(aliases),
        origin=origin,
        timestamp=now,
        request_id=request_id,
        partition_key=partition_key or None,
        partition_date=partition_date if partition_key else None,
    )
    session.add(event)
    session.flush()
    for name in aliases:
        alias = ensure_alias(session, name)
        insert_ignoring_conflicts(
            session, AssetAliasAsset, [{"alias_id": alias.id, "asset_id": asset.id}]
        )
        session.add(AssetAliasEvent(alias_id=alias.id, event_id=event.id))
    scheduled = _scheduled_on(session, asset, aliases)
    # Locks the consumers' rows first: it serialises with a run of theirs being created (it
    # locks its DAG's row too), so an event is either consumed by that run or queued for the
    # next, and with a new version of theirs, so the kind of consumer read below is current.
    locked = (
        session.execute(
            select(Dag.dag_id, Dag.partitioning_hash != "", Dag.team)
            .where(Dag.dag_id.in_(scheduled))
            .order_by(Dag.dag_id)
            .with_for_update()
        ).all()
        if scheduled
        else []
    )
    if access is not None and locked:
        allowed = _allowed(session, asset, aliases, [(d, team) for d, _, team in locked], access)
        locked = [row for row in locked if row[0] in allowed]
    targets = [(dag_id, is_partitioned) for dag_id, is_partitioned, _ in locked]
    partitioned = [dag_id for dag_id, is_partitioned in targets if is_partitioned]
    plain = (
        []
        if partition_key
        else [dag_id for dag_id, is_partitioned in targets if not is_partitioned]
    )
    if partitioned and not partition_key:
        for dag_id in partitioned:
            warn_partition(session, dag_id, _missing_key(asset, source), now)
        partitioned = []
    queued = sorted(plain + partitioned)
    insert_ignoring_conflicts(
        session,
        AssetDagRunQueue,
        [{"asset_id": asset.id, "target_dag_id": dag_id, "created_at": now} for dag_id in plain],
    )
    if queued:
        session.execute(
            insert(AssetDagRunQueueEvent),
            [
                {"target_dag_id": dag_id, "asset_event_id": event.id, "asset_id": asset.id}
                for dag_id in queued
            ],
        )
    session.info[_RECORDED] = session.info.get(_RECORDED, 0) + 1
    record_event(
        session,
        type=event_pb2.EVENT_TYPE_ASSET_EVENT_RECORDED,
        time=now,
        dag_id=source.dag_id if source else "",
        run_id=source.run_id if source else "",
        task_id=source.task_id if source else "",
    )
    return RecordedEvent(event, asset, queued)


def _missing_key(asset: Asset, source: EventSource | None) -> str:
    origin = (
        f"task {source.task_id!r} of run {source.run_id!r} of DAG {source.dag_id!r}"
        if source
        else "outside (the API or a watcher)"
    )
    return (
        f"an event of asset {asset.name!r} from {origin} has no partition key, so this "
        "partitioned DAG ignores it; produce the asset from a partitioned run (e.g. "
        "CronPartitionTimetable), name keys with outlet_events[asset].add_partitions(...), or "
        "emit it with a partition key"
    )


def events_recorded(session: Session) -> int:
    """How many asset events this transaction recorded so far."""
    return int(session.info.get(_RECORDED, 0))


@dataclass(frozen=True)
class OutletReport:
    """What a successful try said about one outlet (see ``OutletEvent`` in the contract)."""

    asset: dag_pb2.Asset
    extra_json: str = ""
    source_alias_name: str = ""
    partition_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunPartition:
    """The producing run's partition, which its events are for unless a task names others."""

    key: str | None = None
    date: datetime | None = None

    def of(self, key: str | None) -> tuple[str | None, datetime | None]:
        """An event's key and the date it carries: the run's date for the run's key only."""
        if key is None or key == self.key:
            return self.key, self.date
        return key, None


def record_outlet_events(
    session: Session,
    ti: TaskInstance,
    task: dag_pb2.TaskDefinition,
    reports: Sequence[OutletReport],
    now: datetime,
    partition: RunPartition | None = None,
    multi_team: bool = False,
) -> list[RecordedEvent]:
    """Record the events of a try that succeeded, as Airflow does.

    With ``multi_team``, each event queues only the consumers the teams rule allows, from
    the producing DAG's team and the outlet's access control.

    Every asset outlet (and reference outlet that finds an asset) gets one event, with the
    extra the try reported for it, for the run's partition, or one per partition key the try
    named for it (``add_partitions``); every asset the try attached to one of the task's alias
    outlets gets one event per distinct extra, naming the aliases it came through, for the
    run's partition. An asset attached to an alias is created when no DAG names it yet.
    """
    partition = partition or RunPartition()
    source = EventSource(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
    direct = {(r.asset.name, r.asset.uri): r for r in reports if not r.source_alias_name}
    recorded = []
    seen: set[int] = set()
    for outlet in task.outlets:
        kind = outlet.WhichOneof("kind")
        row: Asset | None
        if kind == "asset":
            row = session.scalar(
                select(Asset).where(Asset.name == outlet.asset.name, Asset.uri == outlet.asset.uri)
            )
        elif kind == "reference":
            name, uri = reference_keys(outlet.reference)
            try:
                row = resolve_reference(session, name=name, uri=uri)
            except NotFound:
                row = None
        else:
            continue
        if row is None or row.id in seen:
            continue
        seen.add(row.id)
        report = direct.get((row.name, row.uri))
        access = (
            source_access(session, source, outlet.asset if kind == "asset" else None)
            if multi_team
            else None
        )
        keys: Sequence[str | None] = (
            sorted(report.partition_keys) if report and report.partition_keys else [None]
        )
        for wanted in keys:
            key, date = partition.of(wanted)
            recorded.append(
                record_asset_event(
                    session,
                    row,
                    extra_json=report.extra_json if report else "",
                    origin=ORIGIN_TASK,
                    now=now,
                    source=source,
                    partition_key=key,
                    partition_date=date,
                    access=access,
                )
            )
    outlet_aliases = {o.alias.name for o in task.outlets if o.WhichOneof("kind") == "alias"}
    through: dict[tuple[str, str, str], tuple[dag_pb2.Asset, set[str]]] = {}
    for alias_report in reports:
        if alias_report.source_alias_name not in outlet_aliases:
            continue
        group = (
            alias_report.asset.name,
            alias_report.asset.uri,
            _extra_json(alias_report.extra_json),
        )
        through.setdefault(group, (alias_report.asset, set()))[1].add(
            alias_report.source_alias_name
        )
    for (_, _, extra), (asset, aliases) in sorted(through.items(), key=lambda item: item[0]):
        row = ensure_asset(session, asset, now, define=False)
        recorded.append(
            record_asset_event(
                session,
                row,
                extra_json=extra,
                origin=ORIGIN_TASK,
                now=now,
                source=source,
                alias_names=sorted(aliases),
                partition_key=partition.key,
                partition_date=partition.date,
                access=source_access(session, source) if multi_team else None,
            )
        )
    return recorded


def emit_asset_event(
    session: Session,
    *,
    name: str,
    uri: str,
    extra_json: str,
    now: datetime,
    origin: str = ORIGIN_API,
    partition_key: str = "",
    multi_team: bool = False,
) -> RecordedEvent:
    """Record an event from outside (the API, an asset watcher); extra_json is a JSON object.

    With ``multi_team``, an event from the API (a teamless caller) reaches teamless consumers
    only, as in Airflow.
    """
    asset = find_asset(session, name=name, uri=uri)
    return record_asset_event(
        session,
        asset,
        extra_json=extra_json,
        origin=origin,
        now=now,
        partition_key=partition_key or None,
        access=source_access(session, None) if multi_team else None,
    )


# ---- the queue and asset-triggered runs ----


@dataclass(frozen=True)
class QueuedEvent:
    """A queue row, with its asset and the aliases the asset is attached to."""

    dag_id: str
    asset: Asset
    created_at: datetime
    aliases: tuple[str, ...]


def queued_events(session: Session, dag_ids: Sequence[str]) -> dict[str, list[QueuedEvent]]:
    """The queue rows of these DAGs (all DAGs for an empty sequence), by DAG, oldest first."""
    query = select(AssetDagRunQueue, Asset).join(Asset, Asset.id == AssetDagRunQueue.asset_id)
    if dag_ids:
        query = query.where(AssetDagRunQueue.target_dag_id.in_(list(dag_ids)))
    rows = list(session.execute(query.order_by(AssetDagRunQueue.created_at, Asset.id)))
    aliases = aliases_of(session, (asset.id for _, asset in rows))
    found: dict[str, list[QueuedEvent]] = defaultdict(list)
    for queued, asset in rows:
        found[queued.target_dag_id].append(
            QueuedEvent(queued.target_dag_id, asset, queued.created_at, aliases.get(asset.id, ()))
        )
    return dict(found)


@dataclass(frozen=True)
class ConsumedKey:
    """A queue row as the scheduler saw it."""

    name: str
    uri: str
    created_at: datetime


def _assets_named_by(refs: Iterable[DagAssetReference]) -> list[Any]:
    """Conditions on Asset that select the assets the references name (aliases left out)."""
    terms: list[Any] = []
    for ref in refs:
        if ref.asset_name and ref.asset_uri:
            terms.append(and_(Asset.name == ref.asset_name, Asset.uri == ref.asset_uri))
        elif ref.asset_name:
            terms.append(Asset.name == ref.asset_name)
        elif ref.asset_uri:
            terms.append(Asset.uri == ref.asset_uri)
    return terms


@dataclass(frozen=True)
class AssetRunRequest:
    """A scheduler's decision to create an asset-triggered run."""

    dag_id: str
    expected_content_hash: str
    consumed: tuple[ConsumedKey, ...]


def create_asset_triggered_run(
    session: Session, request: AssetRunRequest, now: datetime
) -> tuple[Refusal | None, DagRun | None]:
    """Create the run and consume its queue rows, as one compare-and-set.

    Returns:
        (why, None) when refused, else (None, the run).

    """
    dag = session.get(Dag, request.dag_id, with_for_update=True)
    if dag is None or not dag.is_active or not dag.has_asset_schedule or dag.partitioning_hash:
        return Refusal.NOT_FOUND, None  # a partitioned consumer runs per partition only
    if dag.is_paused:
        return Refusal.DAG_PAUSED, None
    if request.expected_content_hash and request.expected_content_hash != dag.content_hash:
        return Refusal.STALE_GENERATION, None
    if not request.consumed:
        return Refusal.STATE_CONFLICT, None
    queued = {
        (q.asset.name, q.asset.uri): q
        for q in queued_events(session, [dag.dag_id]).get(dag.dag_id, [])
    }
    rows = []
    for key in request.consumed:
        found = queued.get((key.name, key.uri))
        if found is None or found.created_at != key.created_at:
            return Refusal.STATE_CONFLICT, None
        rows.append(found)
    active = session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag.dag_id, DagRun.state.in_(RUN_ACTIVE))
    )
    if (active or 0) >= dag.max_active_runs:
        return Refusal.ACTIVE_RUNS_LIMIT, None
    triggered_at = max(row.created_at for row in rows)
    run_id = run_id_for(DagRunType.ASSET_TRIGGERED, triggered_at)
    if run_id_taken(session, dag.dag_id, run_id):
        return Refusal.STATE_CONFLICT, None
    asset_ids = [row.asset.id for row in rows]
    pending = (AssetDagRunQueueEvent.target_dag_id == dag.dag_id) & (
        AssetDagRunQueueEvent.asset_id.in_(asset_ids)
    )
    event_ids = sorted(
        set(session.scalars(select(AssetDagRunQueueEvent.asset_event_id).where(pending)))
    )
    session.execute(delete(AssetDagRunQueueEvent).where(pending))
    session.execute(
        delete(AssetDagRunQueue).where(
            AssetDagRunQueue.target_dag_id == dag.dag_id, AssetDagRunQueue.asset_id.in_(asset_ids)
        )
    )
    run = create_asset_triggered_run_row(
        session, dag, run_id=run_id, triggered_at=triggered_at, event_ids=event_ids, now=now
    )
    return None, run


# ---- reading ----


@dataclass(frozen=True)
class EventView:
    """An event with its asset and aliases."""

    event: AssetEvent
    asset: Asset

    @property
    def aliases(self) -> list[str]:
        """The aliases the producing task attached the asset to."""
        return list(json.loads(self.event.source_aliases_json or "[]"))


def _views(session: Session, events: Sequence[AssetEvent]) -> list[EventView]:
    ids = {e.asset_id for e in events}
    assets = (
        {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(ids)))} if ids else {}
    )
    return [EventView(e, assets[e.asset_id]) for e in events]


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """The filters of ListAssetEvents; empty means any."""

    asset_name: str = ""
    asset_uri: str = ""
    alias_name: str = ""
    source_dag_id: str = ""
    source_run_id: str = ""
    consumed_by_dag_id: str = ""
    consumed_by_run_id: str = ""
    after: datetime | None = None
    timestamp_gte: datetime | None = None
    before: datetime | None = None


def _filtered(session: Session, where: EventFilter) -> Any:
    query = select(AssetEvent)
    if where.asset_name or where.asset_uri:
        assets = select(Asset.id)
        if where.asset_name:
            assets = assets.where(Asset.name == where.asset_name)
        if where.asset_uri:
            assets = assets.where(Asset.uri == where.asset_uri)
        query = query.where(AssetEvent.asset_id.in_(assets))
    if where.alias_name:
        query = query.where(
            AssetEvent.id.in_(
                select(AssetAliasEvent.event_id)
                .join(AssetAlias, AssetAlias.id == AssetAliasEvent.alias_id)
                .where(AssetAlias.name == where.alias_name)
            )
        )
    if where.source_dag_id:
        query = query.where(AssetEvent.source_dag_id == where.source_dag_id)
    if where.source_run_id:
        query = query.where(AssetEvent.source_run_id == where.source_run_id)
    if where.consumed_by_dag_id:
        run = session.scalar(
            select(DagRun.id).where(
                DagRun.dag_id == where.consumed_by_dag_id,
                DagRun.run_id == where.consumed_by_run_id,
            )
        )
        if run is None:
            raise NotFound("dag_run", f"{where.consumed_by_dag_id}/{where.consumed_by_run_id}")
        query = query.where(
            AssetEvent.id.in_(
                select(DagRunAssetEvent.asset_event_id).where(DagRunAssetEvent.dag_run_id == run)
            )
        )
    if where.after is not None:
        query = query.where(AssetEvent.timestamp > where.after)
    if where.timestamp_gte is not None:
        query = query.where(AssetEvent.timestamp >= where.timestamp_gte)
    if where.before is not None:
        query = query.where(AssetEvent.timestamp < where.before)
    return query


def list_asset_events(session: Session, where: EventFilter, page: PageRequest) -> Page[EventView]:
    """Events matching the filters, newest first."""
    found = keyset_page(session, _filtered(session, where), [(AssetEvent.id, True)], page)
    return Page(_views(session, found.items), found.next_page_token, found.total_size)


def read_asset_events(
    session: Session, where: EventFilter, *, descending: bool, limit: int
) -> list[EventView]:
    """Events matching the filters in recording order (or newest first), at most ``limit``."""
    order = AssetEvent.id.desc() if descending else AssetEvent.id.asc()
    size = min(limit, MAX_EVENTS) if limit > 0 else MAX_EVENTS
    query = _filtered(session, where).order_by(order).limit(size)
    return _views(session, list(session.scalars(query)))


def triggering_events(session: Session, dag_run_id: int) -> list[EventView]:
    """The events an asset-triggered run consumed, oldest first."""
    query = (
        select(AssetEvent)
        .join(DagRunAssetEvent, DagRunAssetEvent.asset_event_id == AssetEvent.id)
        .where(DagRunAssetEvent.dag_run_id == dag_run_id)
        .order_by(AssetEvent.timestamp, AssetEvent.id)
    )
    return _views(session, list(session.scalars(query)))


@dataclass(frozen=True)
class AssetDetails:
    """An asset with its producers, consumers, aliases and latest event."""

    asset: Asset
    producing_tasks: list[tuple[str, str]]
    scheduled_dag_ids: list[str]
    consuming_tasks: list[tuple[str, str]]
    aliases: list[str]
    last_event: EventView | None
    event_count: int


def asset_details(session: Session, assets: Sequence[Asset]) -> list[AssetDetails]:
    """Details of several assets, in their order."""
    if not assets:
        return []
    aliases = aliases_of(session, (a.id for a in assets))
    result = []
    for asset in assets:
        names = _naming(asset)
        alias_names = list(aliases.get(asset.id, ()))
        if alias_names:
            names = or_(names, DagAssetReference.alias_name.in_(alias_names))
        refs = session.execute(
            select(DagAssetReference.role, DagAssetReference.dag_id, DagAssetReference.task_id)
            .join(Dag, Dag.dag_id == DagAssetReference.dag_id)
            .where(Dag.is_active.is_(True), names)
        ).all()
        last = session.scalar(
            select(AssetEvent).where(AssetEvent.asset_id == asset.id).order_by(AssetEvent.id.desc())
        )
        count = session.scalar(
            select(func.count()).select_from(AssetEvent).where(AssetEvent.asset_id == asset.id)
        )
        result.append(
            AssetDetails(
                asset=asset,
                producing_tasks=sorted({(d, t) for role, d, t in refs if role == OUTLET}),
                scheduled_dag_ids=sorted({d for role, d, _ in refs if role == SCHEDULE}),
                consuming_tasks=sorted({(d, t) for role, d, t in refs if role == INLET}),
                aliases=alias_names,
                last_event=EventView(last, asset) if last is not None else None,
                event_count=int(count or 0),
            )
        )
    return result


def require_dag(session: Session, dag_id: str) -> Dag:
    """The DAG, or NotFound."""
    dag = session.get(Dag, dag_id)
    if dag is None:
        raise NotFound("dag", dag_id)
    return dag


def list_assets(
    session: Session, page: PageRequest, *, search: str = "", dag_id: str = ""
) -> Page[AssetDetails]:
    """Assets by name (then URI), with filters."""
    query = select(Asset)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(func.lower(Asset.name).like(pattern), func.lower(Asset.uri).like(pattern))
        )
    if dag_id:
        require_dag(session, dag_id)
        refs = list(
            session.scalars(select(DagAssetReference).where(DagAssetReference.dag_id == dag_id))
        )
        terms = _assets_named_by(refs)
        query = query.where(or_(*terms) if terms else Asset.id < 0)
    found = keyset_page(session, query, [(Asset.name, False), (Asset.id, False)], page)
    return Page(asset_details(session, found.items), found.next_page_token, found.total_size)
