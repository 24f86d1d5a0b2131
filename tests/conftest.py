"""Session-wide test setup: real databases on both backends, no leaking TRADEWIND_* settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from services.state.db.engine import Database, DatabaseSettings
from tests.helpers.databases import BACKENDS, TemplateDatabases, postgres_problem, require_postgres


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
