"""Isolated parses: results, crashes, timeouts and cancellation, with and without a fork server."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from dag_processor.parser import TARGET, ParseJob, Parser
from services.runtime.forking import ForkServer
from tradewind_common.secret_files import scrubbed_environment

GOOD = """\
from datetime import datetime, timezone
from tradewind import DAG, EmptyOperator

with DAG("good", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    EmptyOperator(task_id="t")
"""


@pytest.fixture(params=["fork_server", "fresh_interpreter"])
async def parser(request: pytest.FixtureRequest) -> AsyncIterator[Parser]:
    if request.param == "fresh_interpreter":
        yield Parser(fork_server=None, env=scrubbed_environment())
        return
    server = ForkServer(TARGET, env=scrubbed_environment())
    await server.start()
    try:
        yield Parser(fork_server=server, env=scrubbed_environment())
    finally:
        await server.close()
        # ForkServer.close leaves the server's stdout pipe open (for the garbage collector to
        # warn about during some later test); close it here until forking.py does.
        process = server._server
        if process is not None and process.stdout is not None:
            process.stdout.close()


def job(folder: Path, name: str, source: str, *, timeout: float = 20.0) -> ParseJob:
    (folder / name).write_text(textwrap.dedent(source))
    return ParseJob(
        dags_folder=str(folder), relative=name, timeout=timeout, memory_limit_bytes=1 << 30
    )


async def test_a_good_file_gives_its_dags(parser: Parser, tmp_path: Path) -> None:
    result, timed_out = await parser.parse(job(tmp_path, "good.py", GOOD))
    assert not timed_out
    assert [d.definition.dag_id for d in result.dags] == ["good"]
    assert not result.HasField("import_error")
    assert result.relative_fileloc == "good.py"
    assert result.parse_duration.ToNanoseconds() > 0


async def test_a_process_that_dies_at_import_is_an_import_error(
    parser: Parser, tmp_path: Path
) -> None:
    source = "import os, sys\nprint('about to vanish', flush=True)\nos._exit(3)\n"
    result, timed_out = await parser.parse(job(tmp_path, "dies.py", source))
    assert not timed_out
    assert result.import_error.message.startswith("the parse process died before reporting")
    assert "about to vanish" in result.import_error.message
    assert result.import_error.relative_filename == "dies.py"


async def test_a_hanging_file_is_killed_at_the_timeout(parser: Parser, tmp_path: Path) -> None:
    result, timed_out = await parser.parse(
        job(tmp_path, "hangs.py", "while True:\n    pass\n", timeout=0.5)
    )
    assert timed_out
    assert result.import_error.message == (
        "DagImportTimeout: importing the file timed out after 0.5 s"
    )


async def test_a_cancelled_parse_leaves_no_process_behind(parser: Parser, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    source = f"""\
        import os, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(60)
        """
    parse = asyncio.create_task(parser.parse(job(tmp_path, "sleeps.py", source)))
    assert await _within(5, lambda: pid_file.exists() and pid_file.read_text() != "")
    pid = int(pid_file.read_text())
    parse.cancel()
    with pytest.raises(asyncio.CancelledError):
        await parse
    assert await _within(2, lambda: _gone(pid))


async def _within(seconds: float, check: Callable[[], bool]) -> bool:
    """Whether ``check`` becomes true within ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_the_environment_of_a_parse_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_DATABASE_URL", "postgresql://u:p@h/db")
    monkeypatch.setenv("PGPASSWORD", "p")
    secrets = (
        "TRADEWIND_STATE_TOKEN",
        "TRADEWIND_SERVICE_TOKENS",
        "TRADEWIND_API_TOKENS",
        "TRADEWIND_STATE_TLS_KEY",
        "TRADEWIND_SECRET_KEY",
    )
    for name in secrets:
        monkeypatch.setenv(name, "s3cret")
    monkeypatch.setenv("TRADEWIND_STATE_ADDRESS", "127.0.0.1:1")
    environment = scrubbed_environment()
    assert "TRADEWIND_DATABASE_URL" not in environment
    assert "PGPASSWORD" not in environment
    assert not set(secrets) & set(environment)
    assert environment["TRADEWIND_STATE_ADDRESS"] == "127.0.0.1:1"
    assert environment.get("PATH") == os.environ.get("PATH")
