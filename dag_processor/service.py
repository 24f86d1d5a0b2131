"""The DAG processor service: share the DAG files with other replicas, parse, register.

Every scan it lists the DAG folder, renews and takes file leases (each file is owned by one
live replica; a dead replica's files move to the others when its leases expire), parses the
owned files that are new, changed or due for a periodic re-parse, and reports the results. DAGs
whose content hash did not change are reported by id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc import aio

from dag_processor import metrics
from dag_processor.parser import ParseJob, Parser
from dag_processor.settings import (
    FORK_SERVER,
    LEASE_DURATION,
    PARSE_MEMORY_LIMIT,
    PARSE_TIMEOUT,
    PARSING_PROCESSES,
    REPARSE_INTERVAL,
    SCAN_INTERVAL,
    STATE,
    TEAM,
)
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from protos.dag_processor.v1 import request_response_pb2 as rr
from protos.dag_processor.v1 import service_pb2 as processor_service
from protos.dag_processor.v1 import service_pb2_grpc as processor_grpc
from services.runtime.confinement import (
    PROTECTED_PATHS,
    user_code_confinement,
    user_code_environment,
)
from services.runtime.forking import ForkServer
from services.runtime.protoconv import duration
from services.runtime.server import GrpcService, RuntimeContext, ServerConfig
from tradewind.sdk.discovery import DagFileInfo, find_dag_files
from tradewind.sdk.serialization import content_hash
from tradewind_common import config as cfg
from tradewind_common.channels import ChannelConfig, create_channel

logger = logging.getLogger("tradewind.dag_processor")

#: Results reported per call.
REPORT_BATCH = 50


@dataclass
class FileState:
    """What this replica knows of one owned file."""

    mtime_ns: int = -1
    size: int = -1
    parsed_at: float = 0.0
    #: dag_id -> content hash last accepted by the state service.
    hashes: dict[str, str] | None = None
    failed: bool = False


class DagProcessorApp:
    """A DAG processor replica."""

    service_name = "dag_processor"

    def __init__(self, config: ServerConfig, values: cfg.Settings) -> None:
        self._state: ChannelConfig = STATE.config(values)
        self._folder = values[cfg.DAGS_FOLDER].expanduser().resolve()
        plugins = values[cfg.PLUGINS_FOLDER]
        #: DAG files' top-level code cannot reach Tradewind's home nor this service's TLS key.
        own_key = self._state.tls.key_file if self._state.tls else None
        self._user_code_env = user_code_environment(
            user_code_confinement(
                granted=[self._folder, plugins],
                protected=[own_key, *(Path(p) for p in values[PROTECTED_PATHS])],
            )
        )
        self._timeout = values[PARSE_TIMEOUT]
        limit_mb = values[PARSE_MEMORY_LIMIT]
        self._memory_limit = limit_mb * 1024 * 1024 if limit_mb > 0 else 0
        self._parallel = values[PARSING_PROCESSES]
        self._scan_interval = values[SCAN_INTERVAL]
        self._reparse_interval = values[REPARSE_INTERVAL]
        self._lease_duration = values[LEASE_DURATION]
        self._use_fork_server = values[FORK_SERVER]
        self._team = values[TEAM].strip()
        self.processor_id = ""
        self._files: dict[str, FileState] = {}
        #: The files of the last listing of the DAG folder; None before the first one.
        self._known: set[str] | None = None
        self._folder_missing = False
        #: Files being parsed or whose result is not reported yet.
        self._in_flight: set[str] = set()
        self._parse_tasks: set[asyncio.Task[None]] = set()
        self._parsed: list[tuple[DagFileInfo, processor_pb2.FileParseResult]] = []
        self._parsed_ready = asyncio.Event()
        self._gate = asyncio.Semaphore(self._parallel)
        self._fork_server: ForkServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: aio.Channel | None = None

    def grpc_services(self) -> Sequence[GrpcService]:
        """The processor serves only health, reflection and server info."""
        return ()

    async def start(self, context: RuntimeContext) -> None:
        """Start the parse fork server, connect, and start scanning."""
        self.processor_id = context.identity.instance_id
        if not self._folder.is_dir():
            logger.warning(
                "the DAG folder does not exist (yet)",
                extra={"action": "scan", "folder": str(self._folder)},
            )
        if self._use_fork_server:
            server = ForkServer("dag_processor.parse_file:run", env=self._user_code_env)
            try:
                await server.start()
                self._fork_server = server
            except (OSError, RuntimeError, TimeoutError) as err:
                logger.warning(
                    "fork server unavailable", extra={"action": "fork_server", "error": str(err)}
                )
        self._parser = Parser(fork_server=self._fork_server, env=self._user_code_env)
        self._channel = create_channel(
            self._state, [processor_service.DESCRIPTOR.services_by_name["DagProcessorService"]]
        )
        self._stub = processor_grpc.DagProcessorServiceStub(self._channel)
        self._tasks = [
            asyncio.create_task(self._loop(), name="scan"),
            asyncio.create_task(self._report_loop(), name="report"),
        ]

    async def stop(self, grace_seconds: float) -> None:
        """Stop scanning and parsing (killing running parses) and give the file leases back."""
        tasks = [*self._tasks, *self._parse_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._channel is not None:
            with contextlib.suppress(grpc.RpcError):
                await self._stub.ReleaseDagFileLeases(
                    rr.ReleaseDagFileLeasesRequest(processor_id=self.processor_id), timeout=5
                )
            await self._channel.close(None)
        if self._fork_server is not None:
            await self._fork_server.close()

    async def _loop(self) -> None:
        first = True
        while True:
            try:
                if first:
                    await self._load_hashes()
                    first = False
                await self.scan()
            except asyncio.CancelledError:
                raise
            except grpc.RpcError as err:
                code = err.code() if isinstance(err, aio.AioRpcError) else None
                logger.warning(
                    "state service call failed", extra={"action": "scan", "code": str(code)}
                )
            except Exception:
                logger.exception("scan failed", extra={"action": "scan"})
            await asyncio.sleep(self._scan_interval)

    async def _load_hashes(self) -> None:
        """Learn what the state service already holds, so unchanged DAGs are not resent."""
        response = await self._stub.ListDagContentHashes(rr.ListDagContentHashesRequest())
        for item in response.files:
            self._files.setdefault(item.relative_fileloc, FileState()).hashes = dict(
                item.content_hashes
            )

    async def scan(self) -> None:
        """One pass: list, lease, start parsing what changed (results are reported as they come).

        Parses run beside the scans, so a file that takes long to import (up to the parse
        timeout) never delays the others, the detection of changes or the renewal of leases.
        """
        loop = asyncio.get_running_loop()
        folder_present = self._folder.is_dir()
        found: list[DagFileInfo] = (
            await loop.run_in_executor(None, find_dag_files, self._folder) if folder_present else []
        )
        paths = [f.relative for f in found]
        present = set(paths)
        # Reconciling retires every file missing from this replica's listing, including files
        # another replica already saw and this one not yet; so reconcile only at start (to
        # learn of files deleted while no processor ran) and when a file this replica saw is gone.
        # A missing DAG folder is taken for an unmounted volume, not for every file deleted.
        if folder_present and (self._known is None or self._known - present):
            await self._stub.ReconcileDagFiles(
                rr.ReconcileDagFilesRequest(processor_id=self.processor_id, relative_filelocs=paths)
            )
        if folder_present:
            self._known = present
        elif self._known and not self._folder_missing:
            logger.warning(
                "the DAG folder is gone; its DAGs are kept until it is back",
                extra={"action": "scan", "folder": str(self._folder)},
            )
        self._folder_missing = not folder_present
        response = await self._stub.AcquireDagFileLeases(
            rr.AcquireDagFileLeasesRequest(
                processor_id=self.processor_id,
                relative_filelocs=paths,
                lease_duration=duration(self._lease_duration),
            )
        )
        owned = {lease.relative_fileloc for lease in response.leases}
        metrics.FILES.labels("known").set(len(paths))
        metrics.FILES.labels("owned").set(len(owned))
        now = time.monotonic()
        for stale in set(self._files) - owned:
            # Another replica owns it now; forget the mtime but keep the hashes it sent.
            self._files[stale].mtime_ns = -1
        for info in found:
            if (
                info.relative in owned
                and info.relative not in self._in_flight
                and self._needs_parse(info, now)
            ):
                self._start_parse(info)
        states = [self._files[p] for p in owned if p in self._files]
        metrics.DAGS.set(sum(len(s.hashes or {}) for s in states))
        metrics.IMPORT_ERRORS.set(sum(1 for s in states if s.failed))

    def _needs_parse(self, info: DagFileInfo, now: float) -> bool:
        state = self._files.get(info.relative)
        if state is None or state.mtime_ns != info.mtime_ns or state.size != info.size:
            return True
        return now - state.parsed_at >= self._reparse_interval

    def _start_parse(self, info: DagFileInfo) -> None:
        """Parse one file in the background; it stays in flight until its result is reported."""
        self._in_flight.add(info.relative)
        task = asyncio.create_task(self._parse(info), name=f"parse {info.relative}")
        self._parse_tasks.add(task)
        task.add_done_callback(self._parse_tasks.discard)

    async def _parse(self, info: DagFileInfo) -> None:
        try:
            async with self._gate:
                started = time.perf_counter()
                result, timed_out = await self._parser.parse(
                    ParseJob(
                        dags_folder=str(self._folder),
                        relative=info.relative,
                        timeout=self._timeout,
                        memory_limit_bytes=self._memory_limit,
                    )
                )
                metrics.PARSE_SECONDS.observe(time.perf_counter() - started)
                if timed_out:
                    metrics.PARSE_TIMEOUTS.inc()
        except Exception:
            logger.exception("parse failed", extra={"action": "parse", "file": info.relative})
            self._in_flight.discard(info.relative)
            return
        if self._team:
            for serialized in result.dags:
                serialized.definition.team = self._team
                serialized.content_hash = content_hash(serialized.definition)
        self._parsed.append((info, result))
        self._parsed_ready.set()

    async def _report_loop(self) -> None:
        """Report parse results as they come, batching those that finished meanwhile."""
        while True:
            await self._parsed_ready.wait()
            self._parsed_ready.clear()
            while self._parsed:
                batch = self._parsed[:REPORT_BATCH]
                del self._parsed[:REPORT_BATCH]
                try:
                    await self._report(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    # Parse these files again on the next scan rather than lose their results.
                    for info, _ in batch:
                        self._files.setdefault(info.relative, FileState()).mtime_ns = -1
                    code = err.code() if isinstance(err, aio.AioRpcError) else None
                    logger.warning(
                        "reporting parse results failed",
                        extra={"action": "report", "files": len(batch), "code": str(code)},
                    )
                    await asyncio.sleep(self._scan_interval)
                finally:
                    for info, _ in batch:
                        self._in_flight.discard(info.relative)

    async def _report(
        self, parsed: Sequence[tuple[DagFileInfo, processor_pb2.FileParseResult]]
    ) -> None:
        sent: list[processor_pb2.FileParseResult] = []
        for info, result in parsed:
            state = self._files.setdefault(info.relative, FileState())
            known = state.hashes or {}
            trimmed = processor_pb2.FileParseResult()
            trimmed.CopyFrom(result)
            del trimmed.dags[:]
            for serialized in result.dags:
                dag_id = serialized.definition.dag_id
                if known.get(dag_id) == serialized.content_hash:
                    trimmed.unchanged_dag_ids.append(dag_id)
                else:
                    trimmed.dags.append(serialized)
            sent.append(trimmed)
        response = await self._stub.ReportParseResults(
            rr.ReportParseResultsRequest(processor_id=self.processor_id, results=sent)
        )
        now = time.monotonic()
        for (info, result), outcome in zip(parsed, response.outcomes, strict=True):
            state = self._files.setdefault(info.relative, FileState())
            if not outcome.accepted:
                state.mtime_ns = -1
                continue
            resend = set(outcome.resend_dag_ids) | set(outcome.conflicting_dag_ids)
            state.hashes = {
                d.definition.dag_id: d.content_hash
                for d in result.dags
                if d.definition.dag_id not in resend
            }
            state.failed = result.HasField("import_error") or bool(outcome.conflicting_dag_ids)
            # A file with DAGs to resend is parsed again on the next scan.
            state.mtime_ns = -1 if outcome.resend_dag_ids else info.mtime_ns
            state.size = info.size
            state.parsed_at = now
            if result.HasField("import_error"):
                logger.info(
                    "import error",
                    extra={
                        "action": "parse",
                        "file": info.relative,
                        "error": result.import_error.message,
                    },
                )


def build_app(config: ServerConfig, values: cfg.Settings) -> DagProcessorApp:
    """The app factory for :func:`services.runtime.server.service_main`."""
    cfg.export_parsing_settings(values)
    return DagProcessorApp(config, values)
