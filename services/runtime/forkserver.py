"""The fork server: a pre-imported Python process that forks one isolated child per job.

Running a job (a task try, a DAG file parse) in a fork of a warm process costs a few
milliseconds instead of the hundreds that a fresh interpreter spends importing Tradewind, gRPC
and protobuf, and keeps the isolation of a separate process. The client sends each job over a
Unix SOCK_SEQPACKET socket as four file descriptors passed with SCM_RIGHTS (stdout, stderr, a
result pipe, and a pipe carrying the job's payload, so that a payload of any size fits: a run's
conf may be megabytes). The server reads the payload to its end and forks; the child starts a
new session (so the client can signal its whole process group), takes the descriptors and calls
the target function ``module:function(payload: bytes, result_fd: int) -> int``; the server
answers with the child's pid.

Run as ``python -m services.runtime.forkserver SOCKET_PATH module:function [module:prepare]``.
The optional ``prepare(payload)`` runs in the server before each fork, so that work it caches
(a DAG file already imported, say) is inherited by the child instead of redone. No gRPC channel
is ever opened in the fork server itself: gRPC does not survive fork() with live channels, so
each child opens its own.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

from services.runtime.confinement import (
    CONFINEMENT_ENV,
    Sandbox,
    isolate,
    sandbox_from_environment,
)
from tradewind_common.processes import die_with_parent

Target = Callable[[bytes, int], int]
Prepare = Callable[[bytes], None]

#: The datagram that comes with a job's descriptors (its content is not used).
JOB_MESSAGE = b"job"
PID_FORMAT = "!q"


def read_all(fd: int) -> bytes:
    """Everything a pipe carries until its writer closes it; closes ``fd``."""
    chunks = []
    with os.fdopen(fd, "rb") as pipe:
        while chunk := pipe.read(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def _reap(*_: object) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def load_target(reference: str) -> Any:
    """Import ``module:function`` (before forking, so that children start warm)."""
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(module), function)


def _child(
    target: Target,
    listener: socket.socket,
    conn: socket.socket,
    spec: bytes,
    fds: list[int],
    sandbox: Sandbox | None,
) -> None:
    listener.close()
    conn.close()
    if sandbox is not None:
        sandbox.watch.close()
        sandbox.enter()  # a layer of its own: siblings cannot signal or trace each other
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()
    die_with_parent()
    devnull = os.open(os.devnull, os.O_RDONLY)  # never the executor's terminal
    os.dup2(devnull, 0)
    os.close(devnull)
    out, err, result = fds
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    code = 1
    try:
        code = target(spec, result)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: str, target: Target, prepare: Prepare | None = None) -> None:
    """Accept jobs on the Unix socket at ``path`` until the client closes its end.

    The server, and so every child it forks, is non-dumpable: a job's payload (a try's lease)
    and a child's memory are out of reach of the other children, which run as the same user.
    With a confinement handed on (see :mod:`services.runtime.confinement`) each child is
    sandboxed before it runs anything of the user's and ``prepare`` is skipped (the server
    never runs user code); as root the server gives up its capabilities.
    """
    die_with_parent()
    sandbox = sandbox_from_environment()
    isolate(None)
    if os.environ.get(CONFINEMENT_ENV):  # isolation asked for, with or without Landlock
        # ``prepare`` would run user code (a DAG file's top level) in the server, which sees
        # every later job: it could patch the server and read other tries' specs (leases).
        # Each child does that work itself, once confined.
        prepare = None
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client decides when we stop
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(1)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    conn, _ = listener.accept()
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(conn, len(JOB_MESSAGE), 4)
        except InterruptedError:
            continue
        if not message:
            return
        if sandbox is not None and sandbox.stale():
            sandbox.watch.close()
            sandbox = Sandbox.prepare(sandbox.confinement)
        *fds, payload = fds
        spec = read_all(payload)
        if prepare is not None:
            with contextlib.suppress(Exception):
                prepare(spec)
        pid = os.fork()
        if pid == 0:
            _child(target, listener, conn, spec, fds, sandbox)
        for fd in fds:
            os.close(fd)
        conn.sendall(struct.pack(PID_FORMAT, pid))


if __name__ == "__main__":
    serve(
        sys.argv[1],
        load_target(sys.argv[2]),
        load_target(sys.argv[3]) if len(sys.argv) > 3 else None,
    )
