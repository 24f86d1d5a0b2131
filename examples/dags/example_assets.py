"""Data-aware scheduling: a producer updates two assets, and a consumer runs once both were
updated, reading the events that triggered it.

Trigger ``example_asset_producer`` (or record an event from outside with
``tradewind assets emit s3://example/orders.parquet``) and ``example_asset_consumer`` runs
by itself once ``orders`` and ``customers`` both have a new event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tradewind import DAG, Asset, Metadata, task

orders = Asset("s3://example/orders.parquet", extra={"format": "parquet"})
customers = Asset("customers", group="crm")

with DAG(
    "example_asset_producer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "assets"],
):

    @task(outlets=[orders])
    def write_orders(*, outlet_events: Any) -> int:
        """Write the day's orders; the event's extra says how many."""
        rows = 3
        outlet_events[orders].extra = {"rows": rows}
        return rows

    @task(outlets=[customers])
    def write_customers():  # type: ignore[no-untyped-def]
        """Write the customers; a yielded Metadata becomes the event's extra."""
        yield Metadata(customers, {"rows": 2})
        return 2

    write_orders() >> write_customers()

with DAG(
    "example_asset_consumer",
    schedule=[orders, customers],
    start_date=datetime(2026, 1, 1),
    tags=["example", "assets"],
):

    @task(inlets=[orders])
    def report(*, triggering_asset_events: Any, inlet_events: Any) -> dict[str, Any]:
        """Sum what the triggering events say, and look at the latest orders event."""
        rows = {
            asset.name: sum(event.extra.get("rows", 0) for event in events)
            for asset, events in triggering_asset_events.items()
        }
        latest = inlet_events[orders][-1]
        print(f"triggered by {rows}; latest orders event from {latest.source_dag_id}")
        return {"rows": rows, "latest_orders_source": latest.source_dag_id}

    report()
