"""W8: the memory of sleeping triggers in one triggerer.

    python -m bench.idle_triggers [--triggers 10000]

Starts the triggerer's runner in this process (the same code a triggerer runs), measures its
RSS, starts ``--triggers`` DateTimeTriggers due in an hour, lets them settle, and measures
again; then checks the event loop still answers promptly with them all sleeping. Prints one
JSON line per figure. A triggerer process's own idle RSS is what W4 reports for it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradewind.sdk import serde
from tradewind.sdk.triggers.base import classpath_of
from tradewind.sdk.triggers.temporal import DateTimeTrigger
from triggerer.runner import TriggerLoader, TriggerRunner, TriggerSpec

SETTLE_SECONDS = 5.0


def rss_bytes() -> int:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def measure(count: int) -> dict[str, float]:
    """Start ``count`` sleeping triggers; the memory they take and the loop's lag."""
    runner = TriggerRunner(TriggerLoader())
    moment = datetime.now(UTC) + timedelta(hours=1)
    kwargs = serde.dumps({"moment": moment, "end_from_trigger": False})
    classpath = classpath_of(DateTimeTrigger)
    # Warm the path once so imports and caches are not counted as the triggers' cost.
    runner.start(TriggerSpec(trigger_id=0, classpath=classpath, kwargs_json=kwargs))
    await asyncio.sleep(0.5)
    gc.collect()
    before = rss_bytes()
    for number in range(1, count + 1):
        runner.start(TriggerSpec(trigger_id=number, classpath=classpath, kwargs_json=kwargs))
    await asyncio.sleep(SETTLE_SECONDS)  # every trigger built (off the loop) and asleep
    assert len(runner.running) == count + 1
    gc.collect()
    after = rss_bytes()
    lags = []
    for _ in range(50):
        asked = time.monotonic()
        await asyncio.sleep(0.01)
        lags.append(time.monotonic() - asked - 0.01)
    await runner.stop()
    return {
        "triggers": float(count),
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "added_mib": (after - before) / 2**20,
        "kib_per_trigger": (after - before) / 1024 / count,
        "loop_lag_max_ms": max(lags) * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the figures as JSON lines."""
    parser = argparse.ArgumentParser(prog="python -m bench.idle_triggers", description=__doc__)
    parser.add_argument("--triggers", type=int, default=10_000)
    args = parser.parse_args(argv)
    for figure, value in asyncio.run(measure(args.triggers)).items():
        print(json.dumps({"workload": "W8", "figure": figure, "value": round(value, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
