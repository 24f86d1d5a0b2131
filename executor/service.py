"""The executor service: leases queued tries, runs each in its own process, reports back.

Work is pulled: each replica long-polls the state service for as many tries as it has free
slots. Every try runs in a new process group (forked from the fork server, or a fresh
interpreter), its output is shipped as log chunks while it runs, its lease is renewed by a
batched heartbeat, and its result is reported with the lease as fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from core.proto_enums import DAG_RUN_TYPES, TRY_OUTCOMES
from core.states import DagRunType, TryOutcome
from executor import metrics
from executor.capture import CHUNK_LINES, TryLog
from executor.isolation import task_isolation
from executor.launcher import ForkServerLauncher, Launcher, SubprocessLauncher
from executor.settings import (
    FORK_SERVER,
    KILL_GRACE,
    LEASE_DURATION,
    QUEUES,
    SLOTS,
    STATE,
    TASK_TLS_CERT,
    TASK_TLS_KEY,
)
from executor.spec import TryResult, TrySpec
from protos.asset.v1 import message_pb2 as asset_pb2
from protos.enums.v1 import log_pb2, transition_pb2
from protos.executor.v1 import message_pb2 as executor_pb2
from protos.executor.v1 import request_response_pb2 as rr
from protos.executor.v1 import service_pb2 as executor_service
from protos.executor.v1 import service_pb2_grpc as executor_grpc
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.forking import read_pipe
from services.runtime.loops import run_guarded
from services.runtime.protoconv import duration
from services.runtime.server import GrpcService, RuntimeContext, ServerConfig
from tradewind_common import config as cfg
from tradewind_common.channels import ChannelConfig, create_channel
from tradewind_common.config import ConfigError
from tradewind_common.processes import kill_session
from tradewind_common.tls import ClientTLSConfig

logger = logging.getLogger("tradewind.executor")

#: How long one LeaseTaskInstances call waits for work.
LEASE_WAIT_SECONDS = 2.0
#: How often log lines of running tries are shipped.
LOG_FLUSH_SECONDS = 0.25
#: How long a finished try's output may stay open (held by processes it left behind) before
#: those processes are killed.
OUTPUT_DRAIN_SECONDS = 1.0
REPORT_ATTEMPTS = 20
#: The stop reason of a try whose lease is gone: it is killed and its result not reported.
LEASE_LOST = "lost"


def task_tls_config(
    state: ChannelConfig, cert: Path | None, key: Path | None
) -> ClientTLSConfig | None:
    """How task processes reach the state service over TLS.

    They trust the executor's CA and present their own certificate when one is configured,
    else the executor's.
    """
    if (cert is None) != (key is None):
        raise ConfigError("--task-tls-cert and --task-tls-key go together")
    if state.tls is None:
        if cert is not None:
            raise ConfigError("--task-tls-cert needs TLS to the state service (--state-tls)")
        return None
    if cert is None:
        return state.tls
    return replace(state.tls, cert_file=cert, key_file=key)


def deferral_message(deferral: dict[str, Any]) -> executor_pb2.TryDeferral:
    """The contract's message of a task process's deferral."""
    message = executor_pb2.TryDeferral(
        trigger_classpath=deferral["trigger_classpath"],
        trigger_kwargs_json=deferral["trigger_kwargs_json"],
        next_method=deferral["next_method"],
        next_kwargs_json=deferral["next_kwargs_json"],
    )
    if deferral.get("timeout_seconds") is not None:
        message.timeout.CopyFrom(duration(deferral["timeout_seconds"]))
    return message


def _iso(message: Any, field: str) -> str:
    if not message.HasField(field):
        return ""
    return str(getattr(message, field).ToDatetime(tzinfo=UTC).isoformat())


@dataclass
class RunningTry:
    """One try this executor runs."""

    leased: executor_pb2.LeasedTry
    log: TryLog
    pid: int | None = None
    process_started_at: datetime | None = None
    #: Why the executor stops the try early: stopped, timed_out, terminated, or LEASE_LOST.
    stop_reason: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def lease(self) -> run_pb2.TryLease:
        """The try's lease."""
        return self.leased.lease

    def request_stop(self, reason: str) -> None:
        """Ask the try to stop (the first reason wins)."""
        if not self.stop_reason:
            self.stop_reason = reason
        self.stop.set()


class ExecutorApp:
    """An executor replica."""

    service_name = "executor"

    def __init__(self, config: ServerConfig, values: cfg.Settings) -> None:
        self._state: ChannelConfig = STATE.config(values)
        self._dags_folder = str(values[cfg.DAGS_FOLDER].expanduser().resolve())
        self._slots = values[SLOTS]
        queues: tuple[str, ...] = values[QUEUES]
        self._queues = list(queues) or ["default"]
        self._lease_duration = values[LEASE_DURATION]
        self._kill_grace = values[KILL_GRACE]
        self._use_fork_server = values[FORK_SERVER]
        self._task_tls = task_tls_config(self._state, values[TASK_TLS_CERT], values[TASK_TLS_KEY])
        self._hostname = socket.gethostname()
        self.executor_id = ""
        self._running: dict[str, RunningTry] = {}
        self._try_tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        own_key = self._state.tls.key_file if self._state.tls else None
        self._isolation = task_isolation(
            values,
            granted=[Path(self._dags_folder), values[cfg.PLUGINS_FOLDER]],
            own_key=own_key,
        )
        self._launcher: Launcher = SubprocessLauncher(self._isolation)
        #: Launchers of tasks whose run_as_user names another user, by user.
        self._user_launchers: dict[str, SubprocessLauncher] = {}
        self._launcher_name = "subprocess"
        self._channel: aio.Channel | None = None

    def grpc_services(self) -> Sequence[GrpcService]:
        """The executor serves only health, reflection and server info."""
        return ()

    async def start(self, context: RuntimeContext) -> None:
        """Start the fork server, connect to the state service, and start the loops."""
        self.executor_id = context.identity.instance_id
        logger.info(
            f"task isolation: {self._isolation.describe()}",
            extra={"action": "isolation", "isolation": self._isolation.describe()},
        )
        if self._use_fork_server:
            fork_server = ForkServerLauncher(self._isolation)
            try:
                await fork_server.start()
            except (OSError, RuntimeError, TimeoutError) as err:
                logger.warning(
                    "fork server unavailable; starting each try in a fresh interpreter",
                    extra={"action": "fork_server", "error": str(err)},
                )
            else:
                self._launcher, self._launcher_name = fork_server, "fork_server"
        self._channel = create_channel(
            self._state, [executor_service.DESCRIPTOR.services_by_name["ExecutorService"]]
        )
        self._executor = executor_grpc.ExecutorServiceStub(self._channel)
        metrics.SLOTS.labels("total").set(self._slots)
        metrics.SLOTS.labels("used").set(0)
        # The lease loop ends for good once the executor stops; the others run until cancelled.
        self._tasks.append(
            asyncio.create_task(
                run_guarded(self._lease_loop, logger=logger, again=lambda: not self._stopping),
                name="lease_loop",
            )
        )
        for loop in (self._heartbeat_loop, self._log_loop):
            self._tasks.append(
                asyncio.create_task(run_guarded(loop, logger=logger), name=loop.__name__)
            )

    async def stop(self, grace_seconds: float) -> None:
        """Stop leasing, let running tries finish within the grace, then terminate the rest."""
        self._stopping = True
        self._slot_freed.set()
        lease_loop = self._tasks[0] if self._tasks else None
        if lease_loop is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(lease_loop, LEASE_WAIT_SECONDS + 2)
        if self._try_tasks:
            _, pending = await asyncio.wait(self._try_tasks, timeout=grace_seconds)
            if pending:
                for running in list(self._running.values()):
                    running.request_stop(TryOutcome.TERMINATED)
                await asyncio.wait(pending, timeout=self._kill_grace + 10)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._launcher.close()
        for launcher in self._user_launchers.values():
            await launcher.close()
        if self._channel is not None:
            await self._channel.close(None)

    # ---- leasing ----

    async def _lease_loop(self) -> None:
        while not self._stopping:
            free = self._slots - len(self._running)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            response = await self._executor.LeaseTaskInstances(
                rr.LeaseTaskInstancesRequest(
                    executor_id=self.executor_id,
                    queues=self._queues,
                    max_leases=free,
                    lease_duration=duration(self._lease_duration),
                    wait=duration(LEASE_WAIT_SECONDS),
                    hostname=self._hostname,
                ),
                timeout=LEASE_WAIT_SECONDS + self._lease_duration,
            )
            if self._stopping and response.tries:
                await self._executor.ReturnTaskInstances(
                    rr.ReturnTaskInstancesRequest(
                        executor_id=self.executor_id, leases=[t.lease for t in response.tries]
                    )
                )
                return
            for leased in response.tries:
                self._start_try(leased)

    def _start_try(self, leased: executor_pb2.LeasedTry) -> None:
        running = RunningTry(leased=leased, log=TryLog(lease=leased.lease))
        self._running[leased.lease.lease_id] = running
        metrics.SLOTS.labels("used").set(len(self._running))
        task = asyncio.create_task(self._run_try(running))
        self._try_tasks.add(task)
        task.add_done_callback(self._try_tasks.discard)

    # ---- one try ----

    def _spec(self, leased: executor_pb2.LeasedTry) -> TrySpec:
        tls = self._task_tls
        return TrySpec(
            dags_folder=self._dags_folder,
            relative_fileloc=leased.relative_fileloc,
            dag_id=leased.lease.key.dag_id,
            task_id=leased.lease.key.task_id,
            run_id=leased.lease.key.run_id,
            try_number=leased.lease.try_number,
            max_tries=leased.max_tries,
            lease_id=leased.lease.lease_id,
            run_type=DAG_RUN_TYPES.member_or(leased.run_type, DagRunType.MANUAL),
            logical_date=_iso(leased, "logical_date"),
            data_interval_start=_iso(leased, "data_interval_start"),
            data_interval_end=_iso(leased, "data_interval_end"),
            conf_json=leased.conf_json or "{}",
            state_targets=list(self._state.targets),
            state_tls_ca=str(tls.ca_file) if tls and tls.ca_file else "",
            state_tls_cert=str(tls.cert_file) if tls and tls.cert_file else "",
            state_tls_key=str(tls.key_file) if tls and tls.key_file else "",
            map_index=(
                leased.lease.key.map_index if leased.lease.key.HasField("map_index") else -1
            ),
            next_method=leased.next_method,
            next_kwargs_json=leased.next_kwargs_json,
            first_reschedule_date=_iso(leased, "first_reschedule_date"),
            task_reschedule_count=leased.task_reschedule_count,
            partition_key=leased.partition_key,
            partition_date=_iso(leased, "partition_date"),
        )

    def _launcher_for(self, run_as_user: str) -> Launcher:
        """The launcher of a task asking to run as ``run_as_user``.

        Another user than the executor's choice gets fresh interpreters started as that user.

        Raises:
            TaskUserRefused: that user cannot or may not be switched to.

        """
        isolation = self._isolation.for_task(run_as_user)
        if isolation is self._isolation:
            return self._launcher
        name = isolation.user.name if isolation.user is not None else ""
        if name not in self._user_launchers:
            self._user_launchers[name] = SubprocessLauncher(isolation)
        return self._user_launchers[name]

    async def _run_try(self, running: RunningTry) -> None:
        leased = running.leased
        try:
            result = await self._execute(running)
            if running.stop_reason == LEASE_LOST:
                logger.warning(
                    "lease lost; result dropped",
                    extra={"action": "lease_lost", "key": str(leased.lease.key)},
                )
                metrics.TRIES_FINISHED.labels("lease_lost").inc()
                return
            await self._report(running, result)
            metrics.TRIES_FINISHED.labels(result.outcome).inc()
        except Exception:
            logger.exception("try failed in the executor", extra={"action": "run_try"})
        finally:
            self._running.pop(leased.lease.lease_id, None)
            metrics.SLOTS.labels("used").set(len(self._running))
            self._slot_freed.set()

    async def _execute(self, running: RunningTry) -> TryResult:
        leased = running.leased
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        result_read, result_write = os.pipe()
        launch_started = time.perf_counter()
        try:
            launcher = self._launcher_for(leased.run_as_user)
            running.pid = await launcher.launch(
                self._spec(leased), out_write, err_write, result_write
            )
        except Exception as err:
            for fd in (out_read, err_read, result_read):
                os.close(fd)
            return TryResult(
                outcome=TryOutcome.FAILED,
                error_type=type(err).__name__,
                error_message=f"could not start the task process: {err}",
            )
        finally:
            for fd in (out_write, err_write, result_write):
                os.close(fd)
        metrics.PROCESS_START.labels(self._launcher_name).observe(
            time.perf_counter() - launch_started
        )
        metrics.TRIES_STARTED.inc()
        running.process_started_at = datetime.now(UTC)
        if leased.HasField("queued_at"):
            queued = leased.queued_at.ToDatetime(tzinfo=UTC)
            metrics.QUEUED_TO_RUNNING.observe(
                max(0.0, (running.process_started_at - queued).total_seconds())
            )

        readers = [
            asyncio.create_task(self._capture(out_read, running.log, log_pb2.LOG_STREAM_STDOUT)),
            asyncio.create_task(self._capture(err_read, running.log, log_pb2.LOG_STREAM_STDERR)),
        ]
        result_task = asyncio.create_task(read_pipe(result_read))
        timeout = (
            leased.execution_timeout.ToTimedelta().total_seconds()
            if leased.HasField("execution_timeout")
            else None
        )
        stop_task = asyncio.create_task(running.stop.wait())
        done, _ = await asyncio.wait(
            {result_task, stop_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if result_task not in done:
            if not running.stop.is_set():
                running.request_stop(TryOutcome.TIMED_OUT)
            await self._kill(running, result_task)
        stop_task.cancel()
        data = await result_task
        await self._drain_output(running, readers)
        self._end_session(running)
        return self._result(running, data, timeout)

    def _end_session(self, running: RunningTry) -> None:
        """Kill what the try left running in its session: nothing outlives its try."""
        if running.pid is None:
            return
        left = kill_session(running.pid, signal.SIGKILL)
        if left:
            running.log.system(
                f"the task left {left} process(es) running after its try ended; they were killed"
            )

    async def _drain_output(self, running: RunningTry, readers: list[asyncio.Task[None]]) -> None:
        """Read the try's output to its end; kill what it left behind holding it open.

        A process the task started and left running inherits its stdout and stderr, so the
        output would never end and the try never be reported.
        """
        _, pending = await asyncio.wait(readers, timeout=OUTPUT_DRAIN_SECONDS)
        if not pending:
            return
        running.log.system(
            "the task left processes running that hold its output open; they were killed"
        )
        if running.pid is not None:
            kill_session(running.pid, signal.SIGKILL)
        _, pending = await asyncio.wait(pending, timeout=OUTPUT_DRAIN_SECONDS)
        for reader in pending:  # held by a process that left the group: stop listening
            reader.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _result(self, running: RunningTry, data: bytes, timeout: float | None) -> TryResult:
        reason = running.stop_reason
        if reason == TryOutcome.TIMED_OUT:
            message = (
                f"execution_timeout of {timeout:g}s exceeded; the task's processes were killed"
            )
            running.log.system(message)
            return TryResult(
                outcome=TryOutcome.TIMED_OUT, error_type="TaskTimedOut", error_message=message
            )
        if reason == TryOutcome.STOPPED:
            running.log.system("stopped: the task instance was cleared or marked")
            return TryResult(outcome=TryOutcome.STOPPED)
        if reason == TryOutcome.TERMINATED:
            running.log.system("terminated: the executor is shutting down")
            return TryResult(
                outcome=TryOutcome.TERMINATED,
                error_type="Terminated",
                error_message="the executor shut down",
            )
        if not data:
            message = "the task process exited without a result (killed or crashed)"
            running.log.system(message)
            return TryResult(
                outcome=TryOutcome.FAILED, error_type="TaskProcessDied", error_message=message
            )
        return TryResult.from_json(data)

    async def _kill(self, running: RunningTry, result_task: asyncio.Task[bytes]) -> None:
        """SIGTERM every process of the try's session, then SIGKILL them after the grace.

        The session, not only the process group: a task's commands may run in groups of their
        own (BashOperator's), and must stop with it.
        """
        if running.pid is None:
            return
        kill_session(running.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(result_task), self._kill_grace)
        kill_session(running.pid, signal.SIGKILL)

    async def _capture(self, fd: int, log: TryLog, stream: int) -> None:
        reader = asyncio.StreamReader(limit=1 << 20)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # a line longer than the limit
                    line = await reader.read(1 << 20)
                if not line:
                    return
                log.add(stream, line.decode(errors="replace"))
        finally:
            transport.close()

    # ---- reporting ----

    async def _report(self, running: RunningTry, result: TryResult) -> None:
        leased = running.leased
        # Ship all but the last chunk's worth of lines; the rest travel with the result.
        while running.log.unacknowledged is not None or len(running.log.pending) > CHUNK_LINES:
            await self._send_chunks([running])
        final = running.log.next_chunk()
        request = rr.CompleteTaskInstanceRequest(
            executor_id=self.executor_id,
            lease=leased.lease,
            outcome=TRY_OUTCOMES.to_proto(result.outcome),
            skip_task_ids=result.skip_task_ids,
            xcoms=[run_pb2.XCom(xcom_key=key, value_json=value) for key, value in result.xcoms],
            last_log_chunk_index=running.log.chunk_index,
            rendered_map_index=result.rendered_map_index,
            outlet_events=[
                json_format.ParseDict(e, asset_pb2.OutletEvent()) for e in result.outlet_events
            ],
        )
        if final is not None:
            request.final_log.CopyFrom(final)
        if result.deferral is not None:
            request.deferral.CopyFrom(deferral_message(result.deferral))
        if result.reschedule_date:
            request.reschedule_date.FromDatetime(datetime.fromisoformat(result.reschedule_date))
        if result.error_type or result.error_message:
            request.error.CopyFrom(
                run_pb2.TryError(
                    exception_type=result.error_type,
                    message=result.error_message,
                    traceback=result.error_traceback,
                )
            )
        started = result.process_started_at
        if started:
            request.start_date.FromDatetime(datetime.fromisoformat(started))
        elif running.process_started_at is not None:
            request.start_date.FromDatetime(running.process_started_at)
        request.end_date.FromDatetime(datetime.now(UTC))
        for attempt in range(REPORT_ATTEMPTS):
            try:
                await self._executor.CompleteTaskInstance(request, timeout=30)
                running.log.acknowledge()
                return
            except aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    logger.warning(
                        "result refused: the lease was lost",
                        extra={"action": "complete", "detail": err.details()},
                    )
                    await self._flush_log(running)  # the try's log is kept all the same
                    return
                if err.code() != grpc.StatusCode.UNAVAILABLE or attempt == REPORT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))

    async def _flush_log(self, running: RunningTry) -> None:
        while not running.log.drained:
            await self._send_chunks([running])

    async def _send_chunks(self, tries: Sequence[RunningTry]) -> None:
        chunks = [(t, chunk) for t in tries if (chunk := t.log.next_chunk()) is not None]
        if not chunks:
            return
        await self._executor.AppendTaskLogs(
            rr.AppendTaskLogsRequest(executor_id=self.executor_id, chunks=[c for _, c in chunks]),
            timeout=30,
        )
        for running, chunk in chunks:
            if running.log.unacknowledged is chunk:
                running.log.acknowledge()

    async def _log_loop(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            # Send chunk after chunk while lines are waiting, so a chatty try is shipped as
            # fast as the state service stores it, not one chunk per interval.
            while waiting := [t for t in self._running.values() if not t.log.drained]:
                await self._send_chunks(waiting)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._lease_duration / 3)
            tries = list(self._running.values())
            if not tries:
                continue
            beats = []
            for running in tries:
                beat = executor_pb2.TryHeartbeat(
                    lease=running.lease, pid=running.pid or 0, hostname=self._hostname
                )
                if running.process_started_at is not None:
                    stamp = Timestamp()
                    stamp.FromDatetime(running.process_started_at)
                    beat.process_started_at.CopyFrom(stamp)
                beats.append(beat)
            response = await self._executor.HeartbeatTaskInstances(
                rr.HeartbeatTaskInstancesRequest(
                    executor_id=self.executor_id,
                    heartbeats=beats,
                    lease_duration=duration(self._lease_duration),
                ),
                timeout=self._lease_duration / 3,
            )
            for running, outcome in zip(tries, response.outcomes, strict=True):
                if outcome.status == transition_pb2.LEASE_STATUS_LOST:
                    running.request_stop(LEASE_LOST)
                elif outcome.status == transition_pb2.LEASE_STATUS_STOP_REQUESTED:
                    running.request_stop(TryOutcome.STOPPED)


def build_app(config: ServerConfig, values: cfg.Settings) -> ExecutorApp:
    """The app factory for :func:`services.runtime.server.service_main`."""
    cfg.export_parsing_settings(values)
    return ExecutorApp(config, values)
