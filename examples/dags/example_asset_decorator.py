"""Assets defined by the functions that materialise them (``@asset``), and a watermark kept
in the asset state store.

``example_raw_orders`` is an asset and a one-task DAG; each run "lands" a new batch of
orders and says how many in its event. ``example_order_totals`` is scheduled on it: its
parameter named after the asset receives it, and its state store keeps how many batches it
has totalled, across runs. ``example_order_sides`` (``@asset.multi``) produces two assets at
once.
"""

from __future__ import annotations

from typing import Any

from tradewind import Asset, asset, get_current_context


@asset(schedule=None, uri="file:///tmp/tradewind-examples/raw_orders.json", tags=["example"])
def example_raw_orders(self: Asset, outlet_events: Any) -> str:
    """Land a batch of orders; the event's extra says how many."""
    outlet_events[self].extra = {"rows": 3}
    return self.uri


@asset(schedule=[example_raw_orders], tags=["example"])
def example_order_totals(example_raw_orders: Asset) -> dict[str, Any]:
    """Count the batches seen so far, in the raw orders' state store."""
    store = get_current_context()["asset_state_store"][example_raw_orders]
    batches = store.get("batches_totalled", 0) + 1
    store.set("batches_totalled", batches)
    return {"source": example_raw_orders.uri, "batches": batches}


@asset.multi(
    schedule=[example_raw_orders],
    outlets=[Asset("example_buy_orders"), Asset("example_sell_orders")],
    tags=["example"],
)
def example_order_sides() -> str:
    """Split the orders by side: one task, two assets updated."""
    return "split"
