"""An asset updated from outside: a watcher turns each file that lands into an asset event.

While ``example_on_landing`` is unpaused, a triggerer runs the ``FileDeleteTrigger``: when a
file appears at ``<temp folder>/tradewind-example-inbox/orders.flag`` it is deleted and the
asset ``example_landed_orders`` gets an event, which runs the DAG. Try it::

    mkdir -p "${TMPDIR:-/tmp}/tradewind-example-inbox"
    touch "${TMPDIR:-/tmp}/tradewind-example-inbox/orders.flag"
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradewind import DAG, Asset, AssetWatcher, FileDeleteTrigger, task

INBOX = Path(tempfile.gettempdir()) / "tradewind-example-inbox"

landed_orders = Asset(
    "example_landed_orders",
    uri=f"file://{INBOX}/orders.flag",
    watchers=[
        AssetWatcher(
            name="orders_flag",
            trigger=FileDeleteTrigger(filepath=str(INBOX / "orders.flag"), poke_interval=1.0),
        )
    ],
)

with DAG(
    "example_on_landing",
    schedule=[landed_orders],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    tags=["example", "assets"],
):

    @task
    def load(*, triggering_asset_events: Any) -> int:
        """Load what landed: one file per event."""
        events = triggering_asset_events[landed_orders]
        print(f"{len(events)} file(s) landed: {[e.extra for e in events]}")
        return len(events)

    load()
