"""``tradewind pools list|get|set|delete``."""

from __future__ import annotations

import argparse

from tradewind.cli.output import Column, print_record, print_records
from tradewind.cli.runner import EXIT_OK, Subcommands, add_command, add_noun
from tradewind.client import Client, Pool

POOL_COLUMNS: list[Column[Pool]] = [
    Column("name", lambda p: p.name),
    Column("slots", lambda p: "unlimited" if p.slots < 0 else p.slots),
    Column("running", lambda p: p.running_slots),
    Column("queued", lambda p: p.queued_slots),
    Column("open", lambda p: "unlimited" if p.open_slots < 0 else p.open_slots),
    Column("description", lambda p: p.description),
]


async def list_pools(client: Client, args: argparse.Namespace) -> int:
    """Print the pools with their slot usage."""
    pools = [p async for p in client.pools()]
    print_records(pools, POOL_COLUMNS, args.output)
    return EXIT_OK


async def get(client: Client, args: argparse.Namespace) -> int:
    """Print one pool."""
    pool = await client.get_pool(args.name)
    fields = [(column.header, column.value(pool)) for column in POOL_COLUMNS]
    print_record(pool, [*fields, ("include_deferred", pool.include_deferred)], args.output)
    return EXIT_OK


async def set_(client: Client, args: argparse.Namespace) -> int:
    """Create or resize a pool."""
    pool = await client.set_pool(
        args.name,
        args.slots,
        description=args.description,
        include_deferred=args.include_deferred,
    )
    print(f"pool {pool.name!r} has {'unlimited' if pool.slots < 0 else pool.slots} slots")
    return EXIT_OK


async def delete(client: Client, args: argparse.Namespace) -> int:
    """Delete a pool."""
    await client.delete_pool(args.name)
    print(f"pool {args.name!r} is deleted")
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind pools ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(subcommands, "pools", help="manage the pools that limit running tasks")
    add_command(verbs, "list", list_pools, help="list the pools", output=True)
    parser = add_command(verbs, "get", get, help="show one pool", output=True)
    parser.add_argument("name", metavar="NAME")
    parser = add_command(verbs, "set", set_, help="create or resize a pool")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("slots", metavar="SLOTS", type=int, help="total slots; -1 for unlimited")
    parser.add_argument("--description", default="", help="what the pool is for")
    parser.add_argument(
        "--include-deferred", action="store_true", help="deferred task instances hold slots"
    )
    parser = add_command(verbs, "delete", delete, help="delete a pool")
    parser.add_argument("name", metavar="NAME")
