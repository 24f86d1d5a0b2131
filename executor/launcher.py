"""Starting task processes: from the fork server, or as a fresh interpreter when it is off."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from typing import Protocol

from executor.isolation import TaskIsolation
from executor.spec import TrySpec
from services.runtime.forking import ForkServer

logger = logging.getLogger("tradewind.executor")

#: The function a fork server's children call.
TARGET = "executor.task_runner:run_from_spec"
#: Runs in the fork server before each fork: imports the try's DAG file once per version.
PREPARE = "executor.task_runner:prepare"


class Launcher(Protocol):
    """Starts one task process for a try; its output goes to the given descriptors."""

    async def launch(self, spec: TrySpec, stdout: int, stderr: int, result: int) -> int:
        """Start the try; return the task process's pid (the id of its process group)."""

    async def close(self) -> None:
        """Stop whatever the launcher keeps running."""


class SubprocessLauncher:
    """A fresh interpreter per try: slow to start, but needs nothing pre-started."""

    def __init__(self, isolation: TaskIsolation) -> None:
        self._env = isolation.environment()
        self._options = isolation.popen_options()
        self._children: set[subprocess.Popen[bytes]] = set()

    async def launch(self, spec: TrySpec, stdout: int, stderr: int, result: int) -> int:
        """Run ``python -m executor.task_runner`` with the spec on stdin."""

        def spawn() -> subprocess.Popen[bytes]:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "executor.task_runner", str(result)],
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(result,),
                start_new_session=True,
                env=self._env,
                **self._options,
            )
            assert process.stdin is not None
            process.stdin.write(spec.to_json())
            process.stdin.close()
            return process

        process = await asyncio.get_running_loop().run_in_executor(None, spawn)
        # Reap finished children as we go, so none stays a zombie.
        self._children = {child for child in self._children if child.poll() is None}
        self._children.add(process)
        return process.pid

    async def close(self) -> None:
        """Reap finished children."""
        for child in self._children:
            child.poll()


class ForkServerLauncher:
    """Forks each try from a pre-imported fork server (see :mod:`services.runtime.forkserver`).

    A fork server that died (killed, out of memory) is started again before the next try;
    while it cannot be, tries start in fresh interpreters.
    """

    def __init__(self, isolation: TaskIsolation) -> None:
        self._isolation = isolation
        self._server = self._new_server()
        self._fallback = SubprocessLauncher(isolation)
        self._restarting = asyncio.Lock()

    async def start(self) -> None:
        """Start the fork server."""
        await self._server.start()

    async def launch(self, spec: TrySpec, stdout: int, stderr: int, result: int) -> int:
        """Fork the try from the server (started again first when it died)."""
        if not self._server.alive:
            await self._restart()
        if not self._server.alive:
            return await self._fallback.launch(spec, stdout, stderr, result)
        for _ in range(2):
            server = self._server
            if not server.alive:
                break
            try:
                return await server.fork(spec.to_json(), stdout, stderr, result)
            except RuntimeError:
                # It went away before forking (killed): a new server, one more attempt,
                # then a fresh interpreter.
                await self._restart(failed=server)
        return await self._fallback.launch(spec, stdout, stderr, result)

    async def _restart(self, failed: ForkServer | None = None) -> None:
        async with self._restarting:
            if self._server is not failed and self._server.alive:
                return  # another try restarted it meanwhile
            await self._server.close()
            logger.warning(
                "the fork server died; starting a new one", extra={"action": "fork_server"}
            )
            server = self._new_server()
            try:
                await server.start()
            except (OSError, RuntimeError, TimeoutError) as err:
                logger.warning(
                    "fork server unavailable; starting tries in fresh interpreters",
                    extra={"action": "fork_server", "error": str(err)},
                )
                await server.close()
                return
            self._server = server

    def _new_server(self) -> ForkServer:
        return ForkServer(
            TARGET,
            env=self._isolation.environment(),
            prepare=PREPARE,
            popen_options=self._isolation.popen_options(),
        )

    async def close(self) -> None:
        """Stop the fork server."""
        await self._server.close()
        await self._fallback.close()
