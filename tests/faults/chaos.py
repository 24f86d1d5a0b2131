"""The fault scenario: two replicas of every service on a private PostgreSQL, a workload of many
runs whose workers defer to triggers, and faults at random moments (seeded): replicas of every
kind SIGKILLed and restarted (a triggerer while it holds triggers), the database stopped and
started, an executor frozen (SIGSTOP) past its leases and thawed, and DAG files that hang,
crash or eat memory in the DAG folder throughout.

Afterwards the state service's own records are checked and the figures of each fault computed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc import aio

from protos.api.v1 import request_response_pb2 as api_rr
from protos.enums.v1 import dag_run_pb2
from protos.enums.v1 import task_instance_pb2 as ti_enums
from protos.run.v1 import message_pb2 as run_pb2
from protos.runtime.v1 import request_response_pb2 as info_rr
from protos.runtime.v1 import service_pb2 as info_service
from protos.runtime.v1 import service_pb2_grpc as info_grpc
from tests.faults.workload import (
    CONSUMER_DAG,
    DOOMED_WORKER,
    PARTITION_CONSUMER_DAG,
    WORKER_IDS,
    WORKERS,
    asset_name,
    consumer_source,
    dag_source,
    deferral_marks,
    join_value,
    partition_consumer_source,
    partitioned_asset_name,
    worker_value,
)
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.processes import ServiceProcess
from tests.helpers.scale import long_form
from tests.helpers.services import start_service
from tests.helpers.state import StateClient, start_state
from tradewind_common.channels import ChannelConfig, create_channel

T = TypeVar("T")
KINDS = ("state", "dag_processor", "scheduler", "executor", "triggerer")
#: Seconds an executor's try leases last (short, so that a frozen executor loses them soon).
LEASE_SECONDS = 3.0
#: Seconds a triggerer's trigger leases last (short, so that a killed one's triggers move soon).
TRIGGER_LEASE_SECONDS = 3.0
#: How long a triggerer kill waits for a replica to hold a trigger, so that the kill orphans some.
TRIGGERER_TARGET_SECONDS = 10.0
#: Seconds before its trigger is due that a triggerer holding it may still be killed to orphan it.
KILL_MARGIN = 0.2
#: How long after a triggerer kill its orphaned triggers must have fired on another replica.
REFIRE_WITHIN_SECONDS = 60.0
DEFERRED = ti_enums.TASK_INSTANCE_STATE_DEFERRED
#: Seconds a resumed worker's first line may precede its trigger's due moment (clock rounding).
EARLY_TOLERANCE_SECONDS = 0.05
PARSE_TIMEOUT = 2.0
PARSE_MEMORY_MB = 256
FINISHED = (dag_run_pb2.DAG_RUN_STATE_SUCCESS, dag_run_pb2.DAG_RUN_STATE_FAILED)
#: Files that misbehave at import, kept in the DAG folder while the workload runs.
ABUSE_FILES = {
    "abuse_hang.py": "from tradewind import DAG\nimport time\nwhile True:\n    time.sleep(1)\n",
    "abuse_crash.py": (
        "from tradewind import DAG\nimport os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    ),
    "abuse_memory.py": (
        "from tradewind import DAG\nhoard = []\n"
        "while True:\n    hoard.append(bytearray(16 * 1024 * 1024))\n"
    ),
}


@dataclass(frozen=True, kw_only=True)
class Scale:
    """How much load and how many faults one scenario has."""

    name: str
    dags: int
    runs_per_dag: int
    kills: tuple[str, ...]
    database_restarts: int
    executor_freezes: int
    deadline_seconds: float

    @property
    def runs(self) -> int:
        return self.dags * self.runs_per_dag

    @property
    def task_instances(self) -> int:
        return self.runs * (WORKERS + 2)


#: What CI runs: every kind killed (executors and state twice), one database restart, one freeze.
SHORT = Scale(
    name="short",
    dags=4,
    runs_per_dag=4,
    kills=("executor", "state", "scheduler", "dag_processor", "triggerer", "executor", "state"),
    database_restarts=1,
    executor_freezes=1,
    deadline_seconds=180,
)
#: The long form: several hundred task instances, every kind killed three times.
LONG = Scale(
    name="long",
    dags=12,
    runs_per_dag=6,
    kills=KINDS * 3,
    database_restarts=2,
    executor_freezes=2,
    deadline_seconds=600,
)


def scale_from_environment() -> Scale:
    """``TEST_SCALE=long`` selects the long form; the short form is the default."""
    return LONG if long_form() else SHORT


@dataclass
class Fault:
    """One fault, when it struck and how long until what it broke was back."""

    what: str
    at: float
    #: The executor instance frozen or killed, to find the tries it held.
    executor_id: str = ""
    #: The triggerer instance killed.
    triggerer_id: str = ""
    #: Deferred task instances whose trigger the killed triggerer held (its lease not expired).
    orphaned_triggers: int = 0
    #: Seconds from the kill until the last of them had resumed (its trigger fired elsewhere).
    refired_after: float = float("nan")
    #: Seconds until the replacement served, the database accepted connections again, or the
    #: frozen executor was thawed.
    restored_after: float = 0.0
    #: Whether the whole cluster had to wait for the end of the fault (a database restart):
    #: its recovery counts from then; other faults leave a replica of each kind working.
    stops_everything: bool = False

    @property
    def recovery_starts(self) -> float:
        """The moment from which the cluster's recovery is measured."""
        return self.at + self.restored_after if self.stops_everything else self.at


@dataclass
class Cluster:
    """Two replicas of every service on one database."""

    database: PrivatePostgres
    dags: Path
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    #: Replicas killed and replaced, by kind (kept for their logs).
    retired: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def state_addresses(self) -> tuple[str, ...]:
        return tuple(p.address for p in self.replicas["state"])

    def start(self) -> None:
        self.replicas["state"] = [start_state(self.database.url) for _ in range(2)]
        address = ",".join(self.state_addresses())
        self.replicas["dag_processor"] = [
            start_service(
                "dag_processor",
                address,
                "--dags-folder",
                str(self.dags),
                "--scan-interval",
                "0.5",
                "--lease-duration",
                "3",
                "--parse-timeout",
                str(PARSE_TIMEOUT),
                "--parse-memory-limit-mb",
                str(PARSE_MEMORY_MB),
            )
            for _ in range(2)
        ]
        self.replicas["scheduler"] = [
            start_service("scheduler", address, "--claim-duration", "3", "--sweep-interval", "1")
            for _ in range(2)
        ]
        self.replicas["executor"] = [
            start_service(
                "executor",
                address,
                "--dags-folder",
                str(self.dags),
                "--slots",
                "4",
                "--lease-duration",
                str(LEASE_SECONDS),
            )
            for _ in range(2)
        ]
        self.replicas["triggerer"] = [
            start_service(
                "triggerer",
                address,
                "--dags-folder",
                str(self.dags),
                "--lease-duration",
                str(TRIGGER_LEASE_SECONDS),
            )
            for _ in range(2)
        ]

    def exited(self) -> list[str]:
        """Replicas that exited by themselves (crashed), with the end of their output."""
        found = []
        for kind, processes in self.replicas.items():
            for index, process in enumerate(processes):
                if process.process is not None and process.process.poll() is not None:
                    found.append(
                        f"{kind}[{index}] exited {process.process.returncode}: "
                        f"{process.output()[-3000:]}"
                    )
        return found

    def keep_logs(self, folder: Path) -> None:
        """Copy every replica's log (the killed ones' too) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            processes = self.retired.get(kind, []) + self.replicas.get(kind, [])
            for number, process in enumerate(processes):
                if process.log_path is not None and process.log_path.exists():
                    (folder / f"{kind}-{number}.log").write_text(process.output())

    def restart(self, kind: str, index: int) -> None:
        old = self.replicas[kind][index]
        self.retired.setdefault(kind, []).append(old)
        self.replicas[kind][index] = (
            ServiceProcess(args=old.args, port=old.port).start().wait_serving(timeout=60)
        )

    def stop(self) -> None:
        for kind in ("triggerer", "dag_processor", "scheduler", "executor", "state"):
            for process in self.replicas.get(kind, []):
                process.stop()


DOOMED_DAG = "chaos_doomed"


def write_dag_folder(folder: Path, scale: Scale) -> list[str]:
    """The workload's DAG files and the abuse files; returns the workload's DAG ids.

    The last DAG is the doomed variant, whose runs must fail.
    """
    dag_ids = [f"chaos_{number}" for number in range(scale.dags - 1)] + [DOOMED_DAG]
    for dag_id in dag_ids:
        source = dag_source(dag_id, doomed=dag_id == DOOMED_DAG)
        (folder / f"{dag_id}.py").write_text(source)
    (folder / f"{CONSUMER_DAG}.py").write_text(consumer_source(dag_ids))
    (folder / f"{PARTITION_CONSUMER_DAG}.py").write_text(partition_consumer_source(dag_ids))
    for name, source in ABUSE_FILES.items():
        (folder / name).write_text(source)
    return dag_ids


async def patiently(call: Callable[[], Awaitable[T]], *, within: float = 90.0) -> T:
    """Call until the state service answers (it may be restarting, or its database down)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await call()
        except aio.AioRpcError as err:
            retriable = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if err.code() not in retriable or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.3)


async def instance_id(process: ServiceProcess) -> str:
    """The instance id a running service reports (executors stamp it on their tries)."""
    services = [info_service.DESCRIPTOR.services_by_name["ServerInfoService"]]
    async with create_channel(ChannelConfig(targets=(process.address,)), services) as channel:
        stub = info_grpc.ServerInfoServiceStub(channel)
        response = await stub.GetServerInfo(info_rr.GetServerInfoRequest(), timeout=10)
    return response.info.instance_id


class Scenario:
    """Plays one seeded sequence of faults while the workload's runs are triggered in waves."""

    def __init__(
        self, cluster: Cluster, client: StateClient, scale: Scale, dag_ids: Sequence[str], seed: int
    ) -> None:
        self._cluster = cluster
        self._client = client
        self._scale = scale
        self._chance = random.Random(seed)
        self._pending = [
            (dag_id, f"run_{number}") for number in range(scale.runs_per_dag) for dag_id in dag_ids
        ]
        self._healthy_dag = next(d for d in dag_ids if d != DOOMED_DAG)
        self.runs: list[run_pb2.DagRunKey] = []
        self.faults: list[Fault] = []
        #: Replicas found dead without having been killed (each a description).
        self.crashes: list[str] = []
        #: Orphaned triggers that did not fire elsewhere in time (each a description).
        self.stranded: list[str] = []
        self._watchers: list[asyncio.Task[None]] = []

    def _events(self) -> list[str]:
        events = [f"kill {kind}" for kind in self._scale.kills]
        events += ["restart database"] * self._scale.database_restarts
        events += ["freeze executor"] * self._scale.executor_freezes
        self._chance.shuffle(events)
        return events

    async def _trigger_one(self, dag_id: str, run_id: str) -> None:
        request = api_rr.TriggerDagRunRequest(
            dag_id=dag_id, run_id=run_id, request_id=f"{dag_id}-{run_id}"
        )
        await self._client.api.TriggerDagRun(request, timeout=10)

    async def _trigger(self, count: int) -> None:
        wave, self._pending = self._pending[:count], self._pending[count:]
        for dag_id, run_id in wave:
            await patiently(partial(self._trigger_one, dag_id, run_id))
            self.runs.append(run_pb2.DagRunKey(dag_id=dag_id, run_id=run_id))

    async def play(self) -> None:
        """Trigger the runs in waves, one before each fault, and strike each fault.

        The runs are split evenly, so that every fault strikes just after a wave (a triggerer
        kill waits for that wave's workers to defer instead of pausing first).
        """
        events = self._events()
        per_wave, extra = divmod(len(self._pending), len(events) + 1)
        for number, event in enumerate(events):
            await self._trigger(per_wave + int(number < extra))
            pause = self._chance.uniform(0.5, 2.0)
            if event != "kill triggerer":
                await asyncio.sleep(pause)
            if event == "restart database":
                await self._restart_database()
            elif event == "freeze executor":
                await self._freeze_executor()
            else:
                await self._kill(event.split()[1])
        await self._trigger(len(self._pending))

    async def _pick(self, kind: str) -> tuple[int, ServiceProcess, str]:
        """A random replica of ``kind``: its index, process and (executors) instance id."""
        index = self._chance.randrange(2)
        process = self._cluster.replicas[kind][index]
        executor_id = await instance_id(process) if kind == "executor" else ""
        return index, process, executor_id

    def _record(
        self, what: str, struck: float, *, executor_id: str = "", stops_everything: bool = False
    ) -> None:
        self.faults.append(
            Fault(
                what=what,
                at=struck,
                executor_id=executor_id,
                restored_after=time.time() - struck,
                stops_everything=stops_everything,
            )
        )

    async def _kill(self, kind: str) -> None:
        # A replica that died by itself before its turn would hide a crash behind the kill.
        self.crashes += self._cluster.exited()
        if kind == "triggerer":
            await self._kill_triggerer()
            return
        index, process, executor_id = await self._pick(kind)
        struck = time.time()
        process.signal(signal.SIGKILL)
        process.wait(timeout=10)
        await asyncio.get_running_loop().run_in_executor(None, self._cluster.restart, kind, index)
        self._record(f"SIGKILL {kind}[{index}]", struck, executor_id=executor_id)

    async def _deferred(self) -> list[run_pb2.TaskInstance]:
        """Every deferred task instance, with its trigger (and the triggerer holding it)."""
        request = api_rr.ListTaskInstancesRequest(states=[DEFERRED], page_size=1000)
        response = await self._client.api.ListTaskInstances(request, timeout=10)
        return list(response.task_instances)

    async def _kill_triggerer(self) -> None:
        """SIGKILL a triggerer holding triggers (the seeded one if both do), and time the takeover.

        The kill waits (a while) for a replica to hold a trigger, so that it orphans some: their
        leases must expire before the other replica (or the restarted one) runs them again.
        """
        processes = self._cluster.replicas["triggerer"]
        ids = [await instance_id(process) for process in processes]
        index = self._chance.randrange(2)
        deadline = time.monotonic() + TRIGGERER_TARGET_SECONDS
        held = [0, 0]
        extra_run = False
        while time.monotonic() < deadline or not extra_run:
            if time.monotonic() >= deadline:
                # The wave's deferrals all resumed already (a slow machine): a run of our own
                # defers its workers, so the kill is sure to orphan triggers.
                extra_run = True
                deadline = time.monotonic() + TRIGGERER_TARGET_SECONDS * 3
                run_id = f"triggerer_kill_{len(self.faults)}"
                await patiently(partial(self._trigger_one, self._healthy_dag, run_id))
                self.runs.append(run_pb2.DagRunKey(dag_id=self._healthy_dag, run_id=run_id))
            # Triggers due too soon would likely fire before the kill lands.
            holders = [
                ti.trigger.triggerer_id
                for ti in await patiently(self._deferred)
                if _due(ti) - time.time() > KILL_MARGIN
            ]
            held = [holders.count(replica) for replica in ids]
            if any(held):
                if not held[index]:
                    index = 1 - index
                break
            await asyncio.sleep(0.05)
        struck = time.time()
        processes[index].signal(signal.SIGKILL)
        processes[index].wait(timeout=10)
        orphans = {
            _deferral(ti)
            for ti in await patiently(self._deferred)
            if ti.trigger.triggerer_id == ids[index]
        }
        await asyncio.get_running_loop().run_in_executor(
            None, self._cluster.restart, "triggerer", index
        )
        self._record(f"SIGKILL triggerer[{index}] (held {held[index]} due later)", struck)
        fault = self.faults[-1]
        fault.triggerer_id = ids[index]
        fault.orphaned_triggers = len(orphans)
        self._watchers.append(asyncio.create_task(self._watch_orphans(fault, orphans)))

    async def _watch_orphans(self, fault: Fault, orphans: set[tuple[str, ...]]) -> None:
        """Wait until every orphaned deferral resumed (its task instance left deferred)."""
        deadline = time.monotonic() + REFIRE_WITHIN_SECONDS
        waiting = set(orphans)
        while waiting:
            if time.monotonic() > deadline:
                self.stranded.append(
                    f"{fault.what}: {sorted(waiting)} still deferred after "
                    f"{REFIRE_WITHIN_SECONDS:.0f} s"
                )
                return
            waiting &= {_deferral(ti) for ti in await patiently(self._deferred)}
            if waiting:
                await asyncio.sleep(0.1)
        fault.refired_after = time.time() - fault.at if orphans else float("nan")

    async def _restart_database(self) -> None:
        loop = asyncio.get_running_loop()
        struck = time.time()
        await loop.run_in_executor(None, self._cluster.database.stop)
        await asyncio.sleep(2.0)
        await loop.run_in_executor(None, self._cluster.database.start)
        self._record("PostgreSQL restart", struck, stops_everything=True)

    async def _freeze_executor(self) -> None:
        index, process, executor_id = await self._pick("executor")
        struck = time.time()
        process.signal(signal.SIGSTOP)
        await asyncio.sleep(LEASE_SECONDS + 2.5)
        process.signal(signal.SIGCONT)
        self._record(f"SIGSTOP executor[{index}]", struck, executor_id=executor_id)

    async def _dag_run(self, key: run_pb2.DagRunKey) -> run_pb2.DagRun:
        request = api_rr.GetDagRunRequest(key=key)
        return (await self._client.api.GetDagRun(request, timeout=10)).dag_run

    async def wait_for_runs(self) -> dict[str, int]:
        """Wait until every run has finished; return run -> final state."""
        finished: dict[str, int] = {}
        deadline = time.monotonic() + self._scale.deadline_seconds
        while len(finished) < len(self.runs):
            assert time.monotonic() < deadline, (
                f"{len(finished)}/{len(self.runs)} runs finished after faults "
                f"{[f.what for f in self.faults]}"
            )
            for key in self.runs:
                name = f"{key.dag_id}/{key.run_id}"
                if name in finished:
                    continue
                run = await patiently(partial(self._dag_run, key))
                if run.state in FINISHED:
                    finished[name] = run.state
            await asyncio.sleep(0.5)
        await asyncio.gather(*self._watchers)
        return finished


def _due(ti: run_pb2.TaskInstance) -> float:
    """When a deferred worker's trigger is due (a TimeDeltaTrigger's moment), in epoch seconds."""
    try:
        moment = json.loads(ti.trigger.kwargs_json)["moment"]["value"]
        return datetime.fromisoformat(moment).timestamp()
    except (ValueError, KeyError, TypeError):
        return 0.0


def _deferral(ti: run_pb2.TaskInstance) -> tuple[str, ...]:
    """One deferral of a task instance: its key, try and trigger."""
    return (
        ti.key.dag_id,
        ti.key.run_id,
        ti.key.task_id,
        f"try {ti.try_number}",
        f"trigger {ti.trigger.trigger_id}",
    )


@dataclass
class Findings:
    """What the records show after a scenario."""

    tries: list[run_pb2.TaskInstanceTry] = field(default_factory=list)
    retried: int = 0
    #: How the tries that were followed by another try ended, by outcome name.
    retried_outcomes: dict[str, int] = field(default_factory=dict)
    #: Worker tries that deferred and resumed (each exactly once).
    resumed: int = 0
    #: Seconds from each resumed deferral's due moment to its resumed process's first line.
    resume_delays: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


#: How a try may end and still be followed by another: a failure that retries explain. A
#: deferral (or any other suspension) goes on in the same try, so it is never among them.
RETRIED_OUTCOMES = frozenset(
    {
        ti_enums.TRY_OUTCOME_FAILED,
        ti_enums.TRY_OUTCOME_TIMED_OUT,
        ti_enums.TRY_OUTCOME_TERMINATED,
        ti_enums.TRY_OUTCOME_LEASE_EXPIRED,
    }
)
#: A trigger failure or timeout resumes its task to fail: no trigger of the workload may.
TRIGGER_ERRORS = ("TaskDeferralError", "TaskDeferralTimeout")


def expected_states(dag_id: str) -> dict[str, int]:
    """The final state of each task instance of a run of ``dag_id``."""
    success: int = ti_enums.TASK_INSTANCE_STATE_SUCCESS
    states = {"extract": success, "join": success}
    states.update({task_id: success for task_id in WORKER_IDS})
    if dag_id == DOOMED_DAG:
        states[DOOMED_WORKER] = ti_enums.TASK_INSTANCE_STATE_FAILED
        states["join"] = ti_enums.TASK_INSTANCE_STATE_UPSTREAM_FAILED
    return states


def expected_values(dag_id: str) -> dict[str, int]:
    """The return value each task of a run of ``dag_id`` pushes (a worker's from its resume)."""
    values = {"extract": 1, "join": join_value()}
    values.update({task_id: worker_value(task_id) for task_id in WORKER_IDS})
    if dag_id == DOOMED_DAG:
        del values[DOOMED_WORKER], values["join"]
    return values


def expected_last_outcome(dag_id: str, task_id: str) -> ti_enums.TryOutcome.ValueType:
    """How the last try of a task that ran ends."""
    if dag_id == DOOMED_DAG and task_id == DOOMED_WORKER:
        return ti_enums.TRY_OUTCOME_FAILED_NO_RETRY
    return ti_enums.TRY_OUTCOME_SUCCESS


def expected_run_state(dag_id: str) -> int:
    """The final state of a run of ``dag_id``."""
    if dag_id == DOOMED_DAG:
        return dag_run_pb2.DAG_RUN_STATE_FAILED
    return dag_run_pb2.DAG_RUN_STATE_SUCCESS


async def _log(client: StateClient, attempt: run_pb2.TaskInstanceTry) -> list[run_pb2.LogLine]:
    """Every stored line of one try."""
    lines: list[run_pb2.LogLine] = []
    while True:
        page = await client.api.GetTaskInstanceLogs(
            api_rr.GetTaskInstanceLogsRequest(
                key=attempt.key,
                try_number=attempt.try_number,
                after_sequence=lines[-1].sequence if lines else 0,
            )
        )
        lines.extend(page.lines)
        if not page.lines or page.complete:
            return lines


async def _all_pages(call: Callable[[Any], Awaitable[Any]], request: Any, items: str) -> list[Any]:
    found: list[Any] = []
    while True:
        page = await call(request)
        found.extend(getattr(page, items))
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token


async def check_asset_events(client: StateClient, finished: dict[str, int]) -> list[str]:
    """Every successful run recorded one event of its DAG's asset (a failed one none), and
    the consumer's runs consumed every event exactly once, once its queue has drained."""
    problems: list[str] = []

    async def drained() -> bool:
        queued = await client.api.ListQueuedAssetEvents(
            api_rr.ListQueuedAssetEventsRequest(dag_id=CONSUMER_DAG)
        )
        runs = await _all_pages(
            client.api.ListDagRuns,
            api_rr.ListDagRunsRequest(
                dag_id=CONSUMER_DAG,
                states=[dag_run_pb2.DAG_RUN_STATE_QUEUED, dag_run_pb2.DAG_RUN_STATE_RUNNING],
            ),
            "dag_runs",
        )
        return not queued.queued_asset_events and not runs

    deadline = time.monotonic() + 60
    while not await drained():
        if time.monotonic() > deadline:
            return ["the consumer's queue did not drain within 60 s"]
        await asyncio.sleep(0.5)
    events: dict[int, str] = {}
    for dag_id in sorted({name.split("/")[0] for name in finished}):
        successful = {
            name.split("/")[1]
            for name, state in finished.items()
            if name.startswith(f"{dag_id}/") and state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
        }
        recorded = await _all_pages(
            client.api.ListAssetEvents,
            api_rr.ListAssetEventsRequest(asset_name=asset_name(dag_id), page_size=1000),
            "asset_events",
        )
        sources = sorted(e.source_run_id for e in recorded)
        if sources != sorted(successful):
            problems.append(
                f"{dag_id}: events from {sources}, successful runs {sorted(successful)}"
            )
        events.update({e.id: f"{dag_id}/{e.source_run_id}" for e in recorded})
    consumer_runs = await _all_pages(
        client.api.ListDagRuns, api_rr.ListDagRunsRequest(dag_id=CONSUMER_DAG), "dag_runs"
    )
    consumed: list[int] = []
    for run in consumer_runs:
        if run.state != dag_run_pb2.DAG_RUN_STATE_SUCCESS:
            problems.append(f"{CONSUMER_DAG}/{run.run_id} ended {run.state}")
        linked = await _all_pages(
            client.api.ListAssetEvents,
            api_rr.ListAssetEventsRequest(
                consumed_by_dag_id=CONSUMER_DAG, consumed_by_run_id=run.run_id, page_size=1000
            ),
            "asset_events",
        )
        if not linked:
            problems.append(f"{CONSUMER_DAG}/{run.run_id} consumed no event")
        consumed.extend(e.id for e in linked)
    if sorted(consumed) != sorted(events):
        doubled = sorted(i for i in set(consumed) if consumed.count(i) > 1)
        missed = sorted(set(events) - set(consumed))
        unknown = sorted(set(consumed) - set(events))
        problems.append(
            f"events consumed twice: {doubled}; never consumed: {missed}; not of a workload"
            f" run: {unknown}"
        )
    return problems


async def check_partition_runs(client: StateClient, finished: dict[str, int]) -> list[str]:
    """Every successful workload run made exactly one partitioned consumer run, for its own
    partition, which consumed that run's one event; a failed run made none."""
    problems: list[str] = []

    async def consumer_runs() -> list[Any] | None:
        pending = await client.api.ListQueuedAssetEvents(
            api_rr.ListQueuedAssetEventsRequest(
                dag_id=PARTITION_CONSUMER_DAG, include_pending_partitions=True
            )
        )
        runs = await _all_pages(
            client.api.ListDagRuns,
            api_rr.ListDagRunsRequest(dag_id=PARTITION_CONSUMER_DAG),
            "dag_runs",
        )
        active = (dag_run_pb2.DAG_RUN_STATE_QUEUED, dag_run_pb2.DAG_RUN_STATE_RUNNING)
        if pending.pending_partitions or any(r.state in active for r in runs):
            return None
        return runs

    deadline = time.monotonic() + 60
    while (runs := await consumer_runs()) is None:
        if time.monotonic() > deadline:
            return ["the partitioned consumer did not drain within 60 s"]
        await asyncio.sleep(0.5)
    successful = sorted(
        n for n, state in finished.items() if state == dag_run_pb2.DAG_RUN_STATE_SUCCESS
    )
    keys = sorted(r.partition_key for r in runs)
    if keys != successful:
        doubled = sorted(k for k in set(keys) if keys.count(k) > 1)
        problems.append(
            f"{PARTITION_CONSUMER_DAG}: partitions run twice {doubled}; never run"
            f" {sorted(set(successful) - set(keys))}; not of a successful run"
            f" {sorted(set(keys) - set(successful))}"
        )
    for run in runs:
        if run.state != dag_run_pb2.DAG_RUN_STATE_SUCCESS:
            problems.append(f"{PARTITION_CONSUMER_DAG}/{run.run_id} ended {run.state}")
        linked = await _all_pages(
            client.api.ListAssetEvents,
            api_rr.ListAssetEventsRequest(
                consumed_by_dag_id=PARTITION_CONSUMER_DAG,
                consumed_by_run_id=run.run_id,
                page_size=1000,
            ),
            "asset_events",
        )
        dag_id, _, run_id = run.partition_key.partition("/")
        if [(e.asset.name, e.source_run_id, e.partition_key) for e in linked] != [
            (partitioned_asset_name(dag_id), run_id, run.partition_key)
        ]:
            problems.append(f"{PARTITION_CONSUMER_DAG}/{run.run_id} consumed {list(linked)}")
    return problems


async def check_records(client: StateClient, runs: Sequence[run_pb2.DagRunKey]) -> Findings:
    """Check every run's task instances, tries, logs, deferrals and XComs; collect every try."""
    findings = Findings()
    for key in runs:
        name = f"{key.dag_id}/{key.run_id}"
        instances = {
            ti.key.task_id: ti
            for ti in (
                await client.api.ListTaskInstances(
                    api_rr.ListTaskInstancesRequest(dag_id=key.dag_id, run_id=key.run_id)
                )
            ).task_instances
        }
        states = {task_id: ti.state for task_id, ti in instances.items()}
        expected = expected_states(key.dag_id)
        if states != expected:
            findings.problems.append(f"{name}: task instances {states}, expected {expected}")
        tries = (
            await client.api.ListTaskInstanceTries(
                api_rr.ListTaskInstanceTriesRequest(
                    dag_id=key.dag_id, run_id=key.run_id, page_size=1000
                )
            )
        ).tries
        findings.tries.extend(tries)
        xcoms = await client.api.ListXComs(
            api_rr.ListXComsRequest(dag_id=key.dag_id, run_id=key.run_id)
        )
        pushed = {
            x.key.task_id: json.loads(x.value_json)
            for x in xcoms.xcoms
            if x.xcom_key == "return_value"
        }
        values = expected_values(key.dag_id)
        if pushed != values:
            findings.problems.append(f"{name}: return values {pushed}, expected {values}")
        by_task: dict[str, list[run_pb2.TaskInstanceTry]] = {}
        for attempt in tries:
            by_task.setdefault(attempt.key.task_id, []).append(attempt)
        # Every task that was to run ran (an upstream_failed one never starts a try).
        ran = {t for t, s in expected.items() if s != ti_enums.TASK_INSTANCE_STATE_UPSTREAM_FAILED}
        if set(by_task) != ran:
            findings.problems.append(f"{name}: tries of {sorted(by_task)}, expected {sorted(ran)}")
        for task_id, attempts in sorted(by_task.items()):
            attempts.sort(key=lambda a: a.try_number)
            findings.problems += _check_tries(name, instances.get(task_id), attempts)
            for earlier in attempts[:-1]:
                outcome = ti_enums.TryOutcome.Name(earlier.outcome)
                findings.retried_outcomes[outcome] = findings.retried_outcomes.get(outcome, 0) + 1
            findings.retried += len(attempts) - 1
            last = expected_last_outcome(key.dag_id, task_id)
            if attempts[-1].outcome != last:
                findings.problems.append(
                    f"{name}: last try of {task_id} is {describe_try(attempts[-1])}, expected "
                    f"{ti_enums.TryOutcome.Name(last)}"
                )
            for attempt in attempts:
                # A try whose executor died or froze may have shipped no line before its lease
                # ran out; every try that ended by itself has its log.
                ended_by_itself = attempt.outcome != ti_enums.TRY_OUTCOME_LEASE_EXPIRED
                if not ended_by_itself and task_id not in WORKER_IDS:
                    continue
                lines = await _log(client, attempt)
                if ended_by_itself and not lines:
                    findings.problems.append(
                        f"{name}: no log for {task_id} try {attempt.try_number}"
                    )
                if task_id in WORKER_IDS:
                    _check_deferral(name, attempt, lines, findings)
    return findings


def _check_tries(
    name: str, ti: run_pb2.TaskInstance | None, attempts: Sequence[run_pb2.TaskInstanceTry]
) -> list[str]:
    """A task instance's tries, in order: none lost, doubled or overlapping; retries explained.

    Tries are numbered 1, 2, ... without gaps, up to the instance's try number and within its
    max_tries; each try but the last ended in a failure that retries explain (a deferral that
    used up a try would show here as a try ended deferred); no try ran before the previous
    ended; and no trigger failed.
    """
    task_id = attempts[0].key.task_id
    problems = []
    numbers = [a.try_number for a in attempts]
    if numbers != list(range(1, len(attempts) + 1)):
        problems.append(f"{name}: tries of {task_id} are numbered {numbers}")
    if ti is not None and (ti.try_number != len(attempts) or len(attempts) > ti.max_tries):
        problems.append(
            f"{name}: {task_id} has {len(attempts)} tries, try number {ti.try_number}, "
            f"max tries {ti.max_tries}"
        )
    for earlier, later in itertools.pairwise(attempts):
        if earlier.end_date.ToNanoseconds() > later.start_date.ToNanoseconds():
            problems.append(
                f"{name}: tries of {task_id} overlapped: {describe_try(earlier)} and "
                f"{describe_try(later)}"
            )
        if earlier.outcome not in RETRIED_OUTCOMES:
            problems.append(f"{name}: {task_id} was tried again after {describe_try(earlier)}")
    for attempt in attempts:
        if attempt.error.exception_type.endswith(TRIGGER_ERRORS):
            problems.append(f"{name}: the trigger of {task_id} failed: {describe_try(attempt)}")
    return problems


def _check_deferral(
    name: str,
    attempt: run_pb2.TaskInstanceTry,
    lines: Sequence[run_pb2.LogLine],
    findings: Findings,
) -> None:
    """A worker try deferred at most once and resumed at most once, on its own event.

    A try that ended by resuming (its worker's value pushed, or the doomed worker's failure)
    deferred exactly once and resumed exactly once: after deferring, with the event of the
    trigger it deferred on, no sooner than that trigger was due. A try cut short by a fault
    may have stopped before deferring or before resuming, never resumed twice.
    """
    marks = [(line.sequence, line.timestamp.ToDatetime(UTC), line.message) for line in lines]
    deferring, resumed = deferral_marks(marks)
    what = f"{name}: {attempt.key.task_id} try {attempt.try_number}"
    finished = attempt.outcome in (
        ti_enums.TRY_OUTCOME_SUCCESS,
        ti_enums.TRY_OUTCOME_FAILED_NO_RETRY,
    )
    if len(deferring) > 1 or len(resumed) > 1:
        findings.problems.append(
            f"{what} deferred {len(deferring)} and resumed {len(resumed)} times"
        )
        return
    if finished and not (deferring and resumed):
        findings.problems.append(
            f"{what} ended {ti_enums.TryOutcome.Name(attempt.outcome)} having deferred "
            f"{len(deferring)} and resumed {len(resumed)} times"
        )
        return
    if not resumed:
        return
    if not deferring:
        findings.problems.append(f"{what} resumed without deferring")
        return
    deferral, resume = deferring[0], resumed[0]
    if resume.sequence < deferral.sequence or resume.due != deferral.due:
        findings.problems.append(f"{what} resumed {resume} from another deferral than {deferral}")
    elif resume.event != deferral.due:
        findings.problems.append(f"{what} resumed on event {resume.event}, due {deferral.due}")
    elif (resume.at - deferral.due).total_seconds() < -EARLY_TOLERANCE_SECONDS:
        findings.problems.append(f"{what} resumed at {resume.at}, before its trigger was due")
    else:
        findings.resumed += 1
        findings.resume_delays.append((resume.at - deferral.due).total_seconds())


def describe_try(attempt: run_pb2.TaskInstanceTry) -> str:
    """One try's record on one line, for a problem report."""
    outcome = ti_enums.TryOutcome.Name(attempt.outcome)
    return (
        f"try {attempt.try_number} ({outcome}, executor {attempt.executor_id}, "
        f"queued {attempt.queued_at.ToJsonString()}, start {attempt.start_date.ToJsonString()}, "
        f"process {attempt.process_started_at.ToJsonString()}, "
        f"end {attempt.end_date.ToJsonString()}, error {attempt.error.message!r})"
    )


def seconds(timestamp: object) -> float:
    """A protobuf Timestamp as seconds since the epoch."""
    return float(timestamp.ToNanoseconds()) / 1e9  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Recovery:
    """The figures of one fault."""

    fault: Fault
    #: Seconds from the fault (from its end, for a database restart) to the next try that
    #: succeeded anywhere in the cluster.
    next_success: float
    #: Tries the fault interrupted (held by the killed or frozen executor), and the seconds
    #: from the fault until the last of them was running again on a new try; for a killed
    #: triggerer, the triggers it held, and the seconds until the last of them had fired on
    #: another replica (its task instance resumed).
    interrupted: int
    rerun_after: float


def recoveries(faults: Sequence[Fault], tries: Sequence[run_pb2.TaskInstanceTry]) -> list[Recovery]:
    """Work out each fault's figures from the tries' records."""
    successes = sorted(
        seconds(t.end_date) for t in tries if t.outcome == ti_enums.TRY_OUTCOME_SUCCESS
    )
    by_instance: dict[tuple[str, str, str], list[run_pb2.TaskInstanceTry]] = {}
    for attempt in tries:
        key = (attempt.key.dag_id, attempt.key.run_id, attempt.key.task_id)
        by_instance.setdefault(key, []).append(attempt)
    found = []
    for fault in faults:
        start = fault.recovery_starts
        after = [end - start for end in successes if end >= start]
        interrupted = 0
        rerun_after = 0.0
        if fault.executor_id:
            for attempts in by_instance.values():
                attempts.sort(key=lambda a: a.try_number)
                for earlier, later in itertools.pairwise(attempts):
                    if (
                        earlier.executor_id == fault.executor_id
                        and earlier.outcome != ti_enums.TRY_OUTCOME_SUCCESS
                        and seconds(earlier.start_date) <= fault.at <= seconds(earlier.end_date)
                    ):
                        interrupted += 1
                        rerun_after = max(rerun_after, seconds(later.start_date) - fault.at)
        elif fault.triggerer_id:
            interrupted, rerun_after = fault.orphaned_triggers, fault.refired_after
        found.append(
            Recovery(
                fault=fault,
                next_success=min(after) if after else float("nan"),
                interrupted=interrupted,
                rerun_after=rerun_after,
            )
        )
    return found


def report(
    scale: Scale, seed: int, findings: Findings, found: Sequence[Recovery], wall: float
) -> str:
    """The scenario's figures as text (printed by the test; run pytest with -s to see them)."""
    lines = [
        f"fault scenario {scale.name}, seed {seed}: {scale.runs} runs, "
        f"{scale.task_instances} task instances, {len(findings.tries)} tries "
        f"({findings.retried} retried: {_counts(findings.retried_outcomes)}), {wall:.1f} s",
        f"deferrals: {findings.resumed} resumed once each; trigger due -> resumed process: "
        f"{_spread(findings.resume_delays)}",
        "fault | restored after | next success after | tries (triggers) interrupted | "
        "re-run (re-fired) after",
    ]
    for item in found:
        measured = item.fault.executor_id or item.fault.triggerer_id
        interrupted = f"{item.interrupted}" if measured else "-"
        rerun = f"{item.rerun_after:.2f} s" if item.interrupted else "-"
        lines.append(
            f"{item.fault.what} | {item.fault.restored_after:.2f} s | "
            f"{item.next_success:.2f} s | {interrupted} | {rerun}"
        )
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "none"


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    return f"median {median:.2f} s, max {ordered[-1]:.2f} s"
