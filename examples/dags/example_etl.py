"""A small ETL with TaskFlow: each task's return value reaches the next one through XCom."""

from __future__ import annotations

from datetime import datetime

from tradewind import dag, task


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example"],
    params={"multiplier": 2},
    doc_md="Extract three orders, transform them with the `multiplier` param, load a total.",
)
def example_etl():
    @task
    def extract() -> list[dict[str, float]]:
        orders = [{"id": 1, "amount": 10.5}, {"id": 2, "amount": 3.25}, {"id": 3, "amount": 8.0}]
        print(f"extracted {len(orders)} orders")
        return orders

    @task
    def transform(orders: list[dict[str, float]], params: dict | None = None) -> float:
        multiplier = (params or {}).get("multiplier", 1)
        return sum(order["amount"] for order in orders) * multiplier

    @task
    def load(total: float) -> str:
        print(f"loaded total {total}")
        return f"total={total}"

    load(transform(extract()))


example_etl()
