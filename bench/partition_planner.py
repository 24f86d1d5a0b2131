"""W9: the scheduler's partition planner on a consumer with many pending partitions.

    python -m bench.partition_planner [--days 1000]

A daily rollup (``RollupMapper(StartOfDayMapper(), DayWindow())``) with ``--days`` pending
days, each missing its last hour, planned as a scheduler pass plans it: with nothing new
(every partition decided again, and then remembered by the pass's memo), and with 2,000 new
hourly events. Prints one JSON line per figure (milliseconds per plan, median of 5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from core.partitions import DayWindow, RollupMapper, StartOfDayMapper
from protos.dag.v1 import message_pb2 as dag_pb2
from scheduler.partitions import (
    IncompleteMemo,
    PartitionedDag,
    PartitionEvent,
    Pending,
    Received,
    plan_partitions,
)
from services.runtime.partitions import AssetMappers

START = datetime(2026, 1, 1, tzinfo=UTC)
KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"
REPEATS = 5


def consumer(days: int, new_events: int) -> PartitionedDag:
    """A rollup consumer with ``days`` pending days of 23 hours and ``new_events`` queued."""
    pending = []
    for day in range(days):
        anchor = START + timedelta(days=day)
        received = tuple(
            Received(day * 24 + hour, "hourly", "s3://lake/hourly",
                     (anchor + timedelta(hours=hour)).strftime(KEY_FORMAT), anchor)
            for hour in range(23)
        )  # fmt: skip
        pending.append(Pending(anchor.strftime("%Y-%m-%d"), received))
    queued = tuple(
        PartitionEvent(10**7 + n, "hourly", "s3://lake/hourly",
                       (START + timedelta(hours=n)).strftime(KEY_FORMAT), START)
        for n in range(new_events)
    )  # fmt: skip
    rollup = RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())
    return PartitionedDag(
        dag_id="rollup",
        content_hash="v1",
        condition=dag_pb2.AssetCondition(
            asset=dag_pb2.Asset(name="hourly", uri="s3://lake/hourly")
        ),
        mappers=AssetMappers({}, {}, rollup),
        queued=queued,
        pending=tuple(pending),
        active_runs=0,
        max_active_runs=16,
    )


def milliseconds(plan: Callable[[], object]) -> float:
    """The median time of ``plan`` over a few repeats."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        plan()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the planner's figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=1000)
    args = parser.parse_args(argv)
    idle = consumer(args.days, 0)
    busy = consumer(args.days, 2000)
    memo = IncompleteMemo()

    def remembered() -> None:
        plan_partitions(idle, memo=memo)
        memo.end_pass()

    remembered()  # the first pass decides and remembers
    figures = {
        "nothing_new_ms": milliseconds(lambda: plan_partitions(idle)),
        "nothing_new_remembered_ms": milliseconds(remembered),
        "2000_new_events_ms": milliseconds(lambda: plan_partitions(busy)),
    }
    for name, value in figures.items():
        print(
            json.dumps(
                {"workload": "W9", "days": args.days, "figure": name, "value": round(value, 1)}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
