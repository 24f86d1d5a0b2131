"""Six tasks share a pool of two slots, so at most two run at once.

Create the pool first: ``tradewind pools set example_pool 2``.
"""

from __future__ import annotations

import time
from datetime import datetime

from tradewind import DAG, task

with DAG("example_pools", schedule=None, start_date=datetime(2026, 1, 1), tags=["example"]):

    @task(pool="example_pool")
    def crunch(part: int) -> int:
        time.sleep(0.5)
        return part * part

    for part in range(6):
        crunch(part)
