"""The client side of the fork server (see :mod:`services.runtime.forkserver`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.runtime.forkserver import JOB_MESSAGE

#: Seconds closing waits for a request in flight.
CLOSE_WAIT_SECONDS = 5.0
#: Seconds the fork server gets to import its target and start listening.
START_SECONDS = 30.0


class ForkServer:
    """A running fork server whose children call one target function."""

    def __init__(
        self,
        target: str,
        *,
        env: Mapping[str, str],
        prepare: str = "",
        popen_options: Mapping[str, Any] | None = None,
    ) -> None:
        """Describe the server; :meth:`start` starts it.

        Args:
            target: ``module:function`` its children call.
            env: its environment (and so its children's).
            prepare: ``module:function`` it calls before each fork, if any.
            popen_options: how to start it as another user (``user``, ``group``, ``cwd``...).

        """
        self._target = target
        self._prepare = prepare
        self._env = {**env, "GRPC_ENABLE_FORK_SUPPORT": "false"}
        self._options = dict(popen_options or {})
        self._folder = tempfile.mkdtemp(prefix="tradewind-forkserver-")
        if "user" in self._options:  # the server, as that user, binds its socket in here
            os.chown(self._folder, self._options["user"], self._options.get("group", -1))
        self._path = str(Path(self._folder) / "socket")
        self._server: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._lock = asyncio.Lock()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-P",  # the working directory (tasks may write there) is not on sys.path
                "-m",
                "services.runtime.forkserver",
                self._path,
                self._target,
                *([self._prepare] if self._prepare else []),
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=self._env,
            **self._options,
        )

    async def start(self) -> None:
        """Start the server and connect to it.

        Raises:
            RuntimeError: it did not start (its target failed to import, say).
            TimeoutError: it did not answer in time.

        """
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.run_in_executor(None, self._spawn)
            assert self._server.stdout is not None
            ready = await asyncio.wait_for(
                loop.run_in_executor(None, self._server.stdout.readline), START_SECONDS
            )
            if ready.strip() != b"ready":
                raise RuntimeError(f"the fork server for {self._target} did not start")
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self._socket.connect(self._path)
        except BaseException:
            # Failed, timed out or cancelled (the service stopping while it starts): leave
            # neither the server nor its folder behind.
            if self._server is not None and self._server.poll() is None:
                self._server.kill()
            _remove(self._path, self._folder)
            raise
        # The server takes one connection: with its path gone nobody else can connect, and an
        # executor that is killed leaves no socket behind.
        _remove(self._path, self._folder)

    @property
    def alive(self) -> bool:
        """Whether the server still runs."""
        return self._server is not None and self._server.poll() is None

    async def fork(self, payload: bytes, stdout: int, stderr: int, result: int) -> int:
        """Run one job in a new child; return its pid (the id of its process group)."""
        assert self._socket is not None
        connection = self._socket

        def request() -> int:
            reader, writer = os.pipe()
            try:
                socket.send_fds(connection, [JOB_MESSAGE], [stdout, stderr, result, reader])
            finally:
                os.close(reader)
            # The server reads the payload to its end before it forks and answers.
            try:
                with os.fdopen(writer, "wb") as pipe:
                    pipe.write(payload)
            except BrokenPipeError as err:
                raise RuntimeError("the fork server went away") from err
            reply = connection.recv(8)
            if len(reply) != 8:
                raise RuntimeError("the fork server went away")
            return int(struct.unpack("!q", reply)[0])

        async with self._lock:
            try:
                return await asyncio.get_running_loop().run_in_executor(None, request)
            except OSError as err:  # its socket reset or closed under us
                raise RuntimeError(f"the fork server went away ({err})") from err

    async def close(self) -> None:
        """Stop the server; running children are not affected (they are orphans now)."""
        # A request in flight ends first (it fails at once if the server died); a hung
        # server gets a few seconds.
        acquired = False
        with contextlib.suppress(TimeoutError):
            acquired = await asyncio.wait_for(self._lock.acquire(), CLOSE_WAIT_SECONDS)
        if self._socket is not None:
            self._socket.close()
        if acquired:
            self._lock.release()
        if self._server is not None:
            self._server.terminate()
            await asyncio.get_running_loop().run_in_executor(None, self._server.wait)
            if self._server.stdout is not None:
                self._server.stdout.close()
        _remove(self._path, self._folder)


def _remove(path: str, folder: str) -> None:
    Path(path).unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):
        Path(folder).rmdir()


async def read_pipe(fd: int) -> bytes:
    """Everything written to a pipe until its last writer closes it, without a thread."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        return await reader.read()
    finally:
        transport.close()
