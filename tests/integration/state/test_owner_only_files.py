"""A SQLite home is its owner's alone: the database, its folder and the key file (issue 20)."""

from __future__ import annotations

import stat
from pathlib import Path

from services.state.crypto import load_or_create_key
from services.state.db.engine import Database, DatabaseSettings, owner_only_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_key_are_created_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    database = Database(DatabaseSettings(url=f"sqlite:///{home / 'tradewind.db'}"))
    try:
        database.run_write(
            lambda session: session.execute(__import__("sqlalchemy").text("select 1"))
        )
    finally:
        database.dispose()
    assert mode(home) == 0o700
    assert mode(home / "tradewind.db") == 0o600
    load_or_create_key("", tmp_path / "keys")
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / "fernet.key") == 0o600


def test_a_database_another_user_could_read_is_narrowed(tmp_path: Path) -> None:
    loose = tmp_path / "tradewind.db"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    owner_only_file(loose)
    assert mode(loose) == 0o600
