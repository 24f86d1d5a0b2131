"""Run the benchmark workloads W1-W5 of shared/BENCHMARKS.md (and W6, W7) and print figures.

W6, Tradewind's own: one task mapped over a list of ``--mapped-width`` items (1,000) that an
upstream task returns, then one downstream task; tasks/s counts every task instance.
W7: ``--deferred-width`` tasks (1,000) each deferring on a 2-second timer, on 16 slots.

    python -m bench.run [--workloads W1,W2,W3,W4,W5] [--backends sqlite,postgresql]
                        [--repeats 3] [--width 200] [--length 50] [--files 100]

Each workload deploys the suite as separate service processes (state on a fresh database,
DAG processor, schedulers, executors with 16 slots), triggers runs through the public API, and
computes its figures from the state service's records of every try. One JSON line per figure
goes to stdout, then a summary table (median, min, max over the repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import memory, workloads
from bench.measure import chain_hops, chain_queue_delays, median, percentile, try_times, when
from bench.suite import Suite
from protos.api.v1 import request_response_pb2 as api_rr
from protos.api.v1 import service_pb2 as api_service
from protos.api.v1 import service_pb2_grpc as api_grpc
from protos.enums.v1 import dag_run_pb2
from protos.run.v1 import message_pb2 as run_pb2
from tradewind_common.channels import ChannelConfig, create_channel

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FINISHED = (dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED)
RUN_TIMEOUT = 600.0
#: W7's timer, and the executor slots every workload runs on (Suite's default).
TIMER_SECONDS = 2.0
SLOTS = 16


@dataclass(frozen=True)
class Figure:
    """One measured value."""

    workload: str
    backend: str
    configuration: str
    figure: str
    value: float
    unit: str
    repeat: int

    def emit(self) -> None:
        """Print as one JSON line."""
        print(json.dumps(self.__dict__), flush=True)


def fresh_database(backend: str, workdir: Path) -> str:
    """A new empty database of ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    import psycopg

    name = f"tradewind_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"


class Api:
    """The public API of a running suite."""

    def __init__(self, address: str) -> None:
        self.channel = create_channel(
            ChannelConfig(targets=(address,)),
            [api_service.DESCRIPTOR.services_by_name["ApiService"]],
        )
        self.stub = api_grpc.ApiServiceStub(self.channel)

    async def wait_for_dags(self, dag_ids: Sequence[str], within: float = 120) -> float:
        """Wait until every DAG is registered; return the seconds it took."""
        started = time.monotonic()
        wanted = set(dag_ids)
        while True:
            found: set[str] = set()
            token = ""
            while True:
                page = await self.stub.ListDags(
                    api_rr.ListDagsRequest(page_size=1000, page_token=token)
                )
                found |= {d.dag_id for d in page.dags}
                token = page.next_page_token
                if not token:
                    break
            if wanted <= found:
                return time.monotonic() - started
            if time.monotonic() - started > within:
                raise TimeoutError(f"DAGs not registered: {sorted(wanted - found)[:5]}")
            await asyncio.sleep(0.02)

    async def trigger(self, dag_id: str) -> run_pb2.DagRun:
        """Trigger a manual run."""
        response = await self.stub.TriggerDagRun(
            api_rr.TriggerDagRunRequest(dag_id=dag_id, request_id=uuid.uuid4().hex)
        )
        return response.dag_run

    async def finished(self, run: run_pb2.DagRun) -> run_pb2.DagRun:
        """Wait until the run ends; return it."""
        deadline = time.monotonic() + RUN_TIMEOUT
        key = run_pb2.DagRunKey(dag_id=run.dag_id, run_id=run.run_id)
        # The figures come from the run's own records, so polling only needs to notice the end;
        # backing off keeps many waiting runs (W3) from loading the state service.
        pause = 0.01
        while True:
            current = (await self.stub.GetDagRun(api_rr.GetDagRunRequest(key=key))).dag_run
            if current.state in FINISHED:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run.run_id} of {run.dag_id} did not finish")
            await asyncio.sleep(pause)
            pause = min(0.5, pause * 1.5)

    async def tries(self, dag_id: str, run_id: str) -> list[run_pb2.TaskInstanceTry]:
        """Every try record of a run."""
        found: list[run_pb2.TaskInstanceTry] = []
        token = ""
        while True:
            page = await self.stub.ListTaskInstanceTries(
                api_rr.ListTaskInstanceTriesRequest(
                    dag_id=dag_id, run_id=run_id, page_size=1000, page_token=token
                )
            )
            found += page.tries
            token = page.next_page_token
            if not token:
                return found


def seconds_between(start: Any, end: Any) -> float:
    """Seconds between two aware datetimes."""
    return float((end - start).total_seconds())


async def run_w1(api: Api, dag_id: str, tasks: int) -> dict[str, float]:
    """W1: one fan-out run; wall seconds and tasks per second from the run's records."""
    run = await api.trigger(dag_id)
    done = await api.finished(run)
    wall = seconds_between(when(done, "queued_at"), when(done, "end_date"))
    times = try_times(await api.tries(dag_id, run.run_id))
    first = min(t.start for t in times.values())
    return {
        "wall": wall,
        "tasks_per_second": tasks / wall,
        "trigger_to_first_task": seconds_between(when(done, "queued_at"), first),
    }


async def run_w7(api: Api, dag_id: str, width: int, seconds: float) -> dict[str, float]:
    """W7: deferred timers; wall, and timer due -> resumed process (from each task's XCom)."""
    run = await api.trigger(dag_id)
    done = await api.finished(run)
    response = await api.stub.ListXComs(
        api_rr.ListXComsRequest(dag_id=dag_id, run_id=run.run_id, page_size=1000)
    )
    delays = []
    for xcom in response.xcoms:
        value = json.loads(xcom.value_json)
        due = datetime.fromisoformat(value["due"])
        delays.append((datetime.fromisoformat(value["resumed"]) - due).total_seconds())
    if len(delays) != width:
        raise RuntimeError(f"{len(delays)} of {width} deferred tasks resumed")
    return {
        "wall": seconds_between(when(done, "queued_at"), when(done, "end_date")),
        "held_slots_would_take": width / SLOTS * seconds,
        "due_to_resumed_median_ms": median(delays) * 1000,
        "due_to_resumed_p95_ms": percentile(delays, 0.95) * 1000,
    }


async def run_w2(api: Api, dag_id: str, length: int) -> dict[str, float]:
    """W2: one chain run; wall, hop median and p95, median task duration."""
    run = await api.trigger(dag_id)
    done = await api.finished(run)
    times = try_times(await api.tries(dag_id, run.run_id))
    order = [f"t{i:02d}" for i in range(length)]
    hops = chain_hops(times, order)
    queueing = chain_queue_delays(times, order)
    durations = [seconds_between(t.start, t.end) for t in times.values()]
    return {
        "wall": seconds_between(when(done, "queued_at"), when(done, "end_date")),
        "hop_median_ms": median(hops) * 1000,
        "hop_p95_ms": percentile(hops, 0.95) * 1000,
        "task_duration_median_ms": median(durations) * 1000,
        "upstream_end_to_queued_median_ms": median(queueing) * 1000,
        "upstream_end_to_queued_p95_ms": percentile(queueing, 0.95) * 1000,
    }


async def run_w3(api: Api, dag_ids: Sequence[str]) -> dict[str, float]:
    """W3: trigger every DAG at once; wall until all succeed, tasks per second."""
    started = time.monotonic()
    runs = await asyncio.gather(*(api.trigger(d) for d in dag_ids))
    done = await asyncio.gather(*(api.finished(r) for r in runs))
    first = min(when(r, "queued_at") for r in done)  # type: ignore[type-var]
    last = max(when(r, "end_date") for r in done)  # type: ignore[type-var]
    wall = seconds_between(first, last)
    del started
    return {"wall": wall, "tasks_per_second": 10 * len(dag_ids) / wall}


def summarize(figures: list[Figure]) -> None:
    """Print a table of median, min and max per figure and configuration."""
    groups: dict[tuple[str, str, str, str, str], list[float]] = {}
    for fig in figures:
        groups.setdefault(
            (fig.workload, fig.backend, fig.configuration, fig.figure, fig.unit), []
        ).append(fig.value)
    header = f"{'workload':<9} {'backend':<11} {'configuration':<26} {'figure':<24}"
    print(f"\n{header} {'median':>9} {'min':>9} {'max':>9}  unit", file=sys.stderr)
    for (workload, backend, config, name, unit), values in groups.items():
        middle = statistics.median(values)
        print(
            f"{workload:<9} {backend:<11} {config:<26} {name:<24} {middle:>9.3f} "
            f"{min(values):>9.3f} {max(values):>9.3f}  {unit}",
            file=sys.stderr,
        )


UNITS = {"wall": "s", "tasks_per_second": "tasks/s", "trigger_to_first_task": "s", "parse_all": "s"}


async def bench(args: argparse.Namespace) -> list[Figure]:
    """Run the selected workloads on the selected backends."""
    figures: list[Figure] = []

    def record(
        workload: str, backend: str, config: str, values: dict[str, float], repeat: int
    ) -> None:
        for name, value in values.items():
            unit = UNITS.get(
                name, "ms" if name.endswith("_ms") else "MiB" if name.endswith("_mib") else ""
            )
            fig = Figure(workload, backend, config, name, round(value, 4), unit, repeat)
            fig.emit()
            figures.append(fig)

    for backend in args.backends:
        for workload in args.workloads:
            configs: list[tuple[int, int, int]] = [(1, 1, args.width)]
            if workload == "W5":
                configs = [(1, e, args.scale_width) for e in (1, 2, 4)] + [(2, 2, args.scale_width)]
            for schedulers, executors, width in configs:
                config = f"schedulers={schedulers},executors={executors}"
                await one_workload(
                    workload, backend, config, schedulers, executors, width, args, record
                )
    return figures


async def one_workload(
    workload: str,
    backend: str,
    config: str,
    schedulers: int,
    executors: int,
    width: int,
    args: argparse.Namespace,
    record: Callable[[str, str, str, dict[str, float], int], None],
) -> None:
    """Deploy a suite for one workload and configuration, run its repeats, tear it down."""
    workdir = Path(tempfile.mkdtemp(prefix="tradewind-bench-"))
    dags = workdir / "dags"
    dags.mkdir()
    if workload in ("W1", "W4", "W5"):
        dag_ids = [workloads.fan_out(dags, width=width)]
    elif workload == "W2":
        dag_ids = [workloads.chain(dags, length=args.length)]
    elif workload == "W6":
        dag_ids = [workloads.mapped(dags, width=args.mapped_width)]
    elif workload == "W7":
        dag_ids = [workloads.deferred(dags, width=args.deferred_width, seconds=TIMER_SECONDS)]
    else:
        dag_ids = []
    suite = Suite(
        database_url=fresh_database(backend, workdir),
        dags_folder=dags,
        schedulers=schedulers,
        executors=executors,
        workdir=workdir,
        executor_args=tuple(args.executor_args.split()),
    ).start()
    api = Api(suite.state_address)
    try:
        if workload == "W3":
            dag_ids = workloads.many_dags(dags, count=args.files)
            parse = await api.wait_for_dags(dag_ids, within=300)
            record(workload, backend, config, {"parse_all": parse}, 0)
        else:
            await api.wait_for_dags(dag_ids)
        if workload == "W4":
            await asyncio.sleep(2)
            rss, pss = memory.usage(memory.tree(suite.pids()))
            record(
                workload,
                backend,
                config,
                {"idle_rss_mib": rss / 2**20, "idle_pss_mib": pss / 2**20},
                0,
            )
        for repeat in range(1, args.repeats + 1):
            if workload in ("W1", "W5"):
                record(workload, backend, config, await run_w1(api, dag_ids[0], width + 2), repeat)
            elif workload == "W6":
                tasks = args.mapped_width + 2
                record(workload, backend, config, await run_w1(api, dag_ids[0], tasks), repeat)
            elif workload == "W2":
                record(
                    workload, backend, config, await run_w2(api, dag_ids[0], args.length), repeat
                )
            elif workload == "W7":
                figures = await run_w7(api, dag_ids[0], args.deferred_width, TIMER_SECONDS)
                record(workload, backend, config, figures, repeat)
            elif workload == "W3":
                record(workload, backend, config, await run_w3(api, dag_ids), repeat)
            elif workload == "W4":
                stop = asyncio.Event()
                sampler = memory.Sampler(roots=suite.pids())
                sampling = asyncio.create_task(sampler.run(stop))
                await run_w1(api, dag_ids[0], width + 2)
                stop.set()
                await sampling
                record(
                    workload,
                    backend,
                    config,
                    {
                        "peak_rss_mib": sampler.peak_rss / 2**20,
                        "peak_pss_mib": sampler.peak_pss / 2**20,
                    },
                    repeat,
                )
    finally:
        await api.channel.close(None)
        suite.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, print the figures and the summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--workloads", default="W1,W2,W3,W4", type=lambda s: s.split(","))
    parser.add_argument("--backends", default="sqlite,postgresql", type=lambda s: s.split(","))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--executor-args",
        default="",
        help="flags for every executor, e.g. '--no-confine-tasks' to compare one protection",
    )
    parser.add_argument("--width", type=int, default=200, help="W1/W4 parallel tasks")
    parser.add_argument("--scale-width", type=int, default=1000, help="W5 parallel tasks")
    parser.add_argument("--length", type=int, default=50, help="W2 chain length")
    parser.add_argument("--mapped-width", type=int, default=1000, help="W6 map indexes")
    parser.add_argument("--files", type=int, default=100, help="W3 DAG files")
    parser.add_argument("--deferred-width", type=int, default=1000, help="W7 deferred tasks")
    args = parser.parse_args(argv)
    figures = asyncio.run(bench(args))
    summarize(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
