"""Real test databases: a migrated SQLite file or PostgreSQL database per test, cloned from a
template that is migrated once per session.

PostgreSQL is found at $TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
When it does not answer, PostgreSQL tests are skipped with a visible reason, except under CI
(CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def in_ci() -> bool:
    """Whether the tests run in CI, where nothing may be skipped for a missing database."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_url() -> str:
    url = make_url(POSTGRES_ADMIN_URL)
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        engine = create_engine(_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as err:
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
    return None


def require_postgres(problem: str | None) -> None:
    """Skip (locally) or fail (in CI) when PostgreSQL is not usable."""
    if problem is None:
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {problem}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: PostgreSQL tests must run)")
    pytest.skip(message)


@dataclass
class TemplateDatabases:
    """Makes migrated databases for tests quickly by copying a template."""

    scratch: Path
    _sqlite_template: Path | None = None
    _postgres_template: str | None = None
    _created: list[str] = field(default_factory=list)

    def new_url(self, backend: str) -> str:
        """A fresh, migrated, empty database of ``backend``."""
        if backend == "sqlite":
            return self._new_sqlite()
        return self._new_postgres()

    def _new_sqlite(self) -> str:
        if self._sqlite_template is None:
            self._sqlite_template = self.scratch / "template.db"
            db = Database(DatabaseSettings(url=f"sqlite:///{self._sqlite_template}"))
            upgrade(db)
            db.dispose()
        path = self.scratch / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self._sqlite_template, path)
        return f"sqlite:///{path}"

    def _new_postgres(self) -> str:
        admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                if self._postgres_template is None:
                    name = f"tw_template_{uuid.uuid4().hex[:10]}"
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                    self._created.append(name)
                    db = Database(DatabaseSettings(url=self._url_of(name)))
                    upgrade(db)
                    db.dispose()
                    self._postgres_template = name
                name = f"tw_test_{uuid.uuid4().hex[:10]}"
                connection.execute(
                    text(f'CREATE DATABASE "{name}" TEMPLATE "{self._postgres_template}"')
                )
                self._created.append(name)
        finally:
            admin.dispose()
        return self._url_of(name)

    @staticmethod
    def _url_of(name: str) -> str:
        return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop every PostgreSQL database this session made (templates last)."""
        if not self._created:
            return
        admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in reversed(self._created):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
