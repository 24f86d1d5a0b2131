"""``tradewind assets list|show|events|emit|queued``: assets, their events, what DAGs wait on."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tradewind.cli.output import Column, print_json, print_records
from tradewind.cli.runner import EXIT_OK, CommandFailed, Subcommands, add_command, add_noun
from tradewind.client import (
    AssetDetails,
    AssetEvent,
    AssetStateEntry,
    Client,
    NotFoundError,
    PendingPartition,
    QueuedAssetEvent,
)

ASSET_COLUMNS: list[Column[AssetDetails]] = [
    Column("name", lambda a: a.asset.name),
    Column("uri", lambda a: a.asset.uri),
    Column("group", lambda a: a.asset.group),
    Column("producers", lambda a: ", ".join(f"{t.dag_id}.{t.task_id}" for t in a.producing_tasks)),
    Column("scheduled_dags", lambda a: ", ".join(a.scheduled_dag_ids)),
    Column("events", lambda a: a.event_count),
    Column("last_event", lambda a: a.last_event.timestamp if a.last_event else ""),
]
EVENT_COLUMNS: list[Column[AssetEvent]] = [
    Column("id", lambda e: e.id),
    Column("asset", lambda e: e.asset.uri),
    Column("timestamp", lambda e: e.timestamp),
    Column("origin", lambda e: e.origin),
    Column(
        "source",
        lambda e: "/".join(filter(None, [e.source_dag_id, e.source_run_id, e.source_task_id])),
    ),
    Column("aliases", lambda e: ", ".join(e.source_aliases)),
    Column("partition", lambda e: e.partition_key),
    Column("extra", lambda e: json.dumps(e.extra, sort_keys=True)),
]
QUEUED_COLUMNS: list[Column[QueuedAssetEvent]] = [
    Column("dag_id", lambda q: q.dag_id),
    Column("asset", lambda q: q.asset.uri),
    Column("since", lambda q: q.created_at),
    Column("aliases", lambda q: ", ".join(q.asset_aliases)),
]
PARTITION_COLUMNS: list[Column[PendingPartition]] = [
    Column("dag_id", lambda p: p.dag_id),
    Column("partition", lambda p: p.partition_key),
    Column("since", lambda p: p.created_at),
    Column(
        "received",
        lambda p: ", ".join(f"{r.asset.name}:{r.source_partition_key}" for r in p.received),
    ),
]


def asset_key(text: str) -> dict[str, str]:
    """Read NAME_OR_URI: text with "://" is a URI, anything else a name."""
    return {"uri": text} if "://" in text else {"name": text}


async def find(client: Client, text: str) -> AssetDetails:
    """The asset NAME_OR_URI names: by its kind first, then by the other key."""
    key = asset_key(text)
    try:
        return await client.get_asset(**key)
    except NotFoundError:
        other = {"name": text} if "uri" in key else {"uri": text}
        try:
            return await client.get_asset(**other)
        except NotFoundError:
            raise CommandFailed(f"no asset has the name or URI {text!r}") from None


def extra_object(text: str) -> dict[str, Any]:
    """The --extra of ``emit``: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise CommandFailed(f"--extra is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise CommandFailed(f"--extra must be a JSON object, got {type(value).__name__}")
    return value


async def list_assets(client: Client, args: argparse.Namespace) -> int:
    """Print the assets, with their producers and the DAGs scheduled on them."""
    found = [a async for a in client.assets(search=args.search, dag_id=args.dag_id)]
    print_records(found, ASSET_COLUMNS, args.output)
    return EXIT_OK


async def show(client: Client, args: argparse.Namespace) -> int:
    """Print one asset in full."""
    details = await find(client, args.asset)
    if args.output == "json":
        print_json(details)
        return EXIT_OK
    asset = details.asset
    lines = [
        ("name", asset.name),
        ("uri", asset.uri),
        ("group", asset.group),
        ("extra", json.dumps(asset.extra, sort_keys=True)),
        ("producing tasks", ", ".join(f"{t.dag_id}.{t.task_id}" for t in details.producing_tasks)),
        ("scheduled DAGs", ", ".join(details.scheduled_dag_ids)),
        ("consuming tasks", ", ".join(f"{t.dag_id}.{t.task_id}" for t in details.consuming_tasks)),
        ("aliases", ", ".join(details.aliases)),
        ("events", str(details.event_count)),
        ("last event", str(details.last_event.timestamp) if details.last_event else ""),
    ]
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"{label:<{width}}  {value or '-'}")
    return EXIT_OK


async def events(client: Client, args: argparse.Namespace) -> int:
    """Print asset events, newest first."""
    name = uri = ""
    if args.asset:
        found = (await find(client, args.asset)).asset
        name, uri = found.name, found.uri
    listing = client.asset_events(
        asset_name=name,
        asset_uri=uri,
        source_dag_id=args.dag_id,
        source_run_id=args.run_id,
        page_size=args.limit,
    )
    found_events: list[AssetEvent] = []
    async for event in listing:
        found_events.append(event)
        if len(found_events) >= args.limit:
            break
    print_records(found_events, EVENT_COLUMNS, args.output)
    return EXIT_OK


async def emit(client: Client, args: argparse.Namespace) -> int:
    """Record an asset event from outside."""
    extra = extra_object(args.extra)
    target = (await find(client, args.asset)).asset
    emitted = await client.emit_asset_event(
        uri=target.uri, extra=extra, partition_key=args.partition_key
    )
    if args.output == "json":
        print_json(emitted)
        return EXIT_OK
    queued = ", ".join(emitted.queued_dag_ids) or "no DAG"
    print(f"asset event {emitted.event.id} recorded for {target.uri}; queued {queued}")
    return EXIT_OK


async def queued(client: Client, args: argparse.Namespace) -> int:
    """Print the asset events DAGs scheduled on assets wait on, or their pending partitions."""
    if args.partitions:
        print_records(await client.pending_partitions(args.dag_id), PARTITION_COLUMNS, args.output)
        return EXIT_OK
    found = await client.queued_asset_events(args.dag_id)
    print_records(found, QUEUED_COLUMNS, args.output)
    return EXIT_OK


STATE_COLUMNS: list[Column[AssetStateEntry]] = [
    Column("key", lambda e: e.key),
    Column("value", lambda e: json.dumps(e.value, sort_keys=True)),
    Column("updated_at", lambda e: e.updated_at),
    Column(
        "written_by",
        lambda e: (
            f"{e.writer_dag_id}/{e.writer_run_id}/{e.writer_task_id}"
            + (f"[{e.writer_map_index}]" if e.writer_map_index >= 0 else "")
            if e.writer_kind == "task"
            else e.writer_kind
        ),
    ),
]


async def state(client: Client, args: argparse.Namespace) -> int:
    """Print an asset's state store, or clear it (one key or all)."""
    target = (await find(client, args.asset)).asset
    if args.clear:
        deleted = await client.clear_asset_state(uri=target.uri, key=args.key)
        what = f"key {args.key!r}" if args.key else "every key"
        print(f"cleared {what} of {target.uri}: {deleted} deleted")
        return EXIT_OK
    if args.key:
        raise CommandFailed("--key goes with --clear")
    print_records(await client.asset_state(uri=target.uri), STATE_COLUMNS, args.output)
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind assets ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(subcommands, "assets", help="assets, their events, and what DAGs wait on")
    parser = add_command(verbs, "list", list_assets, help="list the assets", output=True)
    parser.add_argument("--search", default="", help="only names or URIs containing this")
    parser.add_argument("-d", "--dag-id", default="", help="only the assets this DAG names")
    parser = add_command(verbs, "show", show, help="show one asset", output=True)
    parser.add_argument("asset", metavar="NAME_OR_URI")
    parser = add_command(
        verbs, "events", events, help="list asset events, newest first", output=True
    )
    parser.add_argument("asset", metavar="NAME_OR_URI", nargs="?", default="")
    parser.add_argument("-d", "--dag-id", default="", help="only events this DAG produced")
    parser.add_argument("-r", "--run-id", default="", help="only events this run produced")
    parser.add_argument("--limit", type=int, default=25, help="at most this many (default 25)")
    parser = add_command(
        verbs, "emit", emit, help="record an asset event from outside", output=True
    )
    parser.add_argument("asset", metavar="NAME_OR_URI")
    parser.add_argument("--extra", default="{}", help="the event's extra, a JSON object")
    parser.add_argument("-p", "--partition-key", default="", help="the partition the event updates")
    parser = add_command(
        verbs, "queued", queued, help="list what DAGs scheduled on assets wait on", output=True
    )
    parser.add_argument("dag_id", metavar="DAG_ID", nargs="?", default="")
    parser.add_argument(
        "--partitions",
        action="store_true",
        help="list partitioned consumers' pending partitions and what each received",
    )
    parser = add_command(
        verbs, "state", state, help="show an asset's state store, or clear it", output=True
    )
    parser.add_argument("asset", metavar="NAME_OR_URI")
    parser.add_argument("--clear", action="store_true", help="delete the keys instead")
    parser.add_argument("--key", default="", help="with --clear: only this key")
