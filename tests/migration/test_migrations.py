"""Migrations and models describe the same schema, on both backends."""

from __future__ import annotations

from services.state.db.engine import Database
from services.state.db.migrate import current_revision, head_revision, schema_differences, upgrade


def test_migrated_schema_matches_the_models(database: Database) -> None:
    assert current_revision(database) == head_revision()
    assert schema_differences(database) == []


def test_upgrade_is_idempotent(database: Database) -> None:
    assert upgrade(database) == head_revision()
    assert upgrade(database) == head_revision()
