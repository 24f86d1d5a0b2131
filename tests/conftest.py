"""Session-wide test setup: real databases on both backends, no leaking TRADEWIND_* settings,
real state service processes shared by the tests of one module, and one temporary folder per
session that is gone at its end, with a check that no process a test started outlives it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import upgrade
from tests.helpers.databases import BACKENDS, TemplateDatabases, postgres_problem, require_postgres
from tests.helpers.private_postgres import PrivatePostgres, server_binaries
from tests.helpers.processes import ServiceProcess
from tests.helpers.scratch import kill, make_session_folder, wait_for_leftovers
from tests.helpers.state import API_TOKEN, SERVICE_TOKEN, start_state

#: The session's temporary folder (set when the session is configured).
SESSION_FOLDER: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Send every temporary file of the session, pytest's own included, to one folder."""
    global SESSION_FOLDER
    if SESSION_FOLDER is not None:
        return
    SESSION_FOLDER = make_session_folder()
    if config.option.basetemp is None:
        config.option.basetemp = str(SESSION_FOLDER / "pytest")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a session whose tests left processes running; remove its folder if all passed."""
    if SESSION_FOLDER is None:
        return
    left = wait_for_leftovers(SESSION_FOLDER)
    if left:
        kill(left)
        lines = "\n".join(f"  {p.pid}: {p.command}" for p in left)
        print(f"\nerror: tests left {len(left)} processes running (killed now):\n{lines}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if session.exitstatus == pytest.ExitCode.OK:
        shutil.rmtree(SESSION_FOLDER, ignore_errors=True)
    elif session.exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED:
        print(f"\nthe session's temporary files are kept in {SESSION_FOLDER}", file=sys.stderr)
    else:
        shutil.rmtree(SESSION_FOLDER, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clear_tradewind_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRADEWIND_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_status() -> str | None:
    """Why PostgreSQL is unusable, or None; checked once per session."""
    return postgres_problem()


@pytest.fixture(scope="session")
def template_databases(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TemplateDatabases]:
    templates = TemplateDatabases(scratch=tmp_path_factory.mktemp("databases"))
    yield templates
    templates.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres_status: str | None) -> str:
    """Each database test runs once on SQLite and once on PostgreSQL."""
    name = str(request.param)
    if name == "postgresql":
        require_postgres(postgres_status)
    return name


@pytest.fixture
def database_url(backend: str, template_databases: TemplateDatabases) -> str:
    """The URL of a fresh, migrated, empty database of the test's backend."""
    return template_databases.new_url(backend)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An open :class:`Database` on a fresh, migrated, empty database."""
    db = Database(DatabaseSettings(url=database_url, pool_size=4))
    yield db
    db.dispose()


def _module_state(
    request: pytest.FixtureRequest,
    templates: TemplateDatabases,
    postgres_status: str | None,
    *flags: str,
) -> Iterator[ServiceProcess]:
    backend = str(request.param)
    if backend == "postgresql":
        require_postgres(postgres_status)
    process = start_state(templates.new_url(backend), *flags)
    failures_before = request.session.testsfailed
    yield process
    process.stop()
    if request.session.testsfailed > failures_before:
        print(f"--- state service log ({backend}) ---\n{process.output()[-20000:]}")


@pytest.fixture(scope="module", params=BACKENDS)
def state_service(
    request: pytest.FixtureRequest,
    template_databases: TemplateDatabases,
    postgres_status: str | None,
) -> Iterator[ServiceProcess]:
    """A state service on a fresh database, shared by the tests of one module."""
    yield from _module_state(request, template_databases, postgres_status)


@pytest.fixture(scope="module", params=BACKENDS)
def secured_state(
    request: pytest.FixtureRequest,
    template_databases: TemplateDatabases,
    postgres_status: str | None,
) -> Iterator[ServiceProcess]:
    """A state service with authentication on: it accepts API_TOKEN and SERVICE_TOKEN."""
    yield from _module_state(
        request,
        template_databases,
        postgres_status,
        "--api-tokens",
        API_TOKEN,
        "--service-tokens",
        SERVICE_TOKEN,
    )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A migrated PostgreSQL server of the test's own, which it may stop and start."""
    bin_dir = server_binaries()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL's server binaries are not installed; CI needs them")
        pytest.skip("PostgreSQL's server binaries are not installed")
    server = PrivatePostgres(bin_dir=bin_dir).init()
    server.start()
    db = Database(DatabaseSettings(url=server.url))
    upgrade(db)
    db.dispose()
    yield server
    server.destroy()
