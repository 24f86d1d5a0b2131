"""Session-wide test setup: real databases on both backends, no leaking TRADEWIND_* settings,
and real state service processes shared by the tests of one module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import upgrade
from tests.helpers.databases import BACKENDS, TemplateDatabases, postgres_problem, require_postgres
from tests.helpers.private_postgres import PrivatePostgres, server_binaries
from tests.helpers.processes import ServiceProcess
from tests.helpers.state import API_TOKEN, SERVICE_TOKEN, start_state


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
