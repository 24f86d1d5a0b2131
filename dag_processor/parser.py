"""Parsing one DAG file in an isolated process, with a timeout and a memory limit.

A file that hangs, crashes its interpreter or eats memory gives an import error naming the
problem; it never stops the processor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from services.runtime.forking import ForkServer, read_pipe

TARGET = "dag_processor.parse_file:run"


@dataclass(frozen=True)
class ParseJob:
    """One file to parse."""

    dags_folder: str
    relative: str
    timeout: float
    memory_limit_bytes: int

    def payload(self) -> bytes:
        """The job as the parse process reads it."""
        return json.dumps(
            {
                "dags_folder": self.dags_folder,
                "relative": self.relative,
                "memory_limit_bytes": self.memory_limit_bytes,
            }
        ).encode()


def failed_parse(job: ParseJob, message: str, details: str = "") -> processor_pb2.FileParseResult:
    """A parse result that is only an import error."""
    now = Timestamp()
    now.FromDatetime(datetime.now(UTC))
    path = os.path.join(job.dags_folder, job.relative)
    return processor_pb2.FileParseResult(
        relative_fileloc=job.relative,
        fileloc=path,
        parsed_at=now,
        import_error=dag_pb2.ImportError(
            filename=path,
            relative_filename=job.relative,
            message=message,
            stacktrace=details or message,
            timestamp=now,
        ),
    )


class Parser:
    """Runs parse jobs in forks of a warm process, or in fresh interpreters."""

    def __init__(self, *, fork_server: ForkServer | None, env: Mapping[str, str]) -> None:
        self._fork_server = fork_server
        self._env = dict(env)
        #: Fresh interpreters by pid, reaped when their parse ends (forks are the server's).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    async def _start(self, job: ParseJob, out: int, result: int) -> int:
        if self._fork_server is not None and self._fork_server.alive:
            return await self._fork_server.fork(job.payload(), out, out, result)

        def spawn() -> subprocess.Popen[bytes]:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "dag_processor.parse_file", str(result)],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=out,
                pass_fds=(result,),
                start_new_session=True,
                env=self._env,
            )
            assert process.stdin is not None
            process.stdin.write(job.payload())
            process.stdin.close()
            return process

        process = await asyncio.get_running_loop().run_in_executor(None, spawn)
        self._children[process.pid] = process
        return process.pid

    async def _reap(self, pid: int) -> None:
        child = self._children.pop(pid, None)
        if child is not None:
            await asyncio.get_running_loop().run_in_executor(None, child.wait)

    async def parse(self, job: ParseJob) -> tuple[processor_pb2.FileParseResult, bool]:
        """Parse one file; return the result and whether it timed out."""
        out_read, out_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            pid = await self._start(job, out_write, result_write)
        except Exception as err:
            os.close(out_read)
            os.close(result_read)
            return failed_parse(job, f"could not start a parse process: {err}"), False
        finally:
            os.close(out_write)
            os.close(result_write)
        output = asyncio.create_task(read_pipe(out_read))
        reading = asyncio.create_task(read_pipe(result_read))
        timed_out = False
        try:
            try:
                data = await asyncio.wait_for(asyncio.shield(reading), job.timeout)
            except TimeoutError:
                timed_out = True
                _kill_group(pid)
                data = await reading
            printed = (await output).decode(errors="replace")
        except asyncio.CancelledError:
            _kill_group(pid)  # the processor is stopping: leave no parse behind
            for task in (output, reading):
                task.cancel()
            await asyncio.gather(output, reading, return_exceptions=True)
            raise
        finally:
            await asyncio.shield(self._reap(pid))
        if timed_out:
            message = f"DagImportTimeout: importing the file timed out after {job.timeout:g} s"
            return failed_parse(job, message, printed), True
        if not data:
            detail = printed.strip().splitlines()[-1] if printed.strip() else "no output"
            message = (
                "the parse process died before reporting (crashed, or over its memory limit):"
                f" {detail}"
            )
            return failed_parse(job, message, printed), False
        return processor_pb2.FileParseResult.FromString(data), False


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
