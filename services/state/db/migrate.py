"""Schema migrations with Alembic: upgrade to the newest revision, or check where we are."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from services.state.db.engine import Database
from services.state.db.models import Base

logger = logging.getLogger("tradewind.state.migrate")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock held while migrating, so concurrent replicas migrate once.
MIGRATION_LOCK_KEY = 0x7472_6164_6D69  # "tradmi"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at Tradewind's migrations (and at ``connection``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision of the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts"
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at; None for an empty database."""
    with db.write_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database) -> str:
    """Migrate the database to the newest revision; return that revision."""
    with db.write_engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), "head")
    head = head_revision()
    if before != head:
        logger.info("migrated", extra={"action": "migrate", "from": before or "empty", "to": head})
    return head


def schema_differences(db: Database) -> list[Any]:
    """Differences between the migrated schema and the models (empty when they agree)."""
    with db.write_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
