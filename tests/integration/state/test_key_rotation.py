"""Rotating the secret key with real state services and the real command, on both backends.

Secrets written under key 1 stay readable while the service lists ``key 2, key 1``;
``tradewind db rotate-fernet-key`` re-encrypts them with key 2; then a service with key 2 alone
reads them, which it could not before the rotation. Variables are stored encrypted throughout.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from tests.helpers.processes import child_environment
from tests.helpers.state import start_state
from tradewind.client import Client, Connection, FailedPreconditionError

PASSWORD = "rotate-me-pw"
VALUE = "variable-secret-value"


def rotate(database_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tradewind.cli",
            "db",
            "rotate-fernet-key",
            "--database-url",
            database_url,
            f"--secret-key={keys}",  # a Fernet key may begin with "-"
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment(),
        check=False,
    )


def stored_variable(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT value FROM variable")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.timeout(180)
async def test_keys_rotate_without_losing_a_secret(database_url: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = start_state(database_url, f"--secret-key={old}")
    try:
        async with Client(first.address) as client:
            await client.set_connection(
                Connection(conn_id="warehouse", conn_type="postgres", password=PASSWORD)
            )
            await client.set_variable("api_key", VALUE)
    finally:
        first.stop()
    assert VALUE not in stored_variable(database_url)

    alone = start_state(database_url, f"--secret-key={new}")
    try:
        async with Client(alone.address) as client:
            with pytest.raises(FailedPreconditionError, match="cannot be decrypted"):
                await client.get_variable("api_key")
    finally:
        alone.stop()

    both = start_state(database_url, f"--secret-key={new},{old}")
    try:
        async with Client(both.address) as client:
            assert (await client.get_variable("api_key")).value == VALUE
    finally:
        both.stop()
    done = rotate(database_url, f"{new},{old}")
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1 connections and 1 variables" in done.stdout

    after = start_state(database_url, f"--secret-key={new}")
    try:
        async with Client(after.address) as client:
            assert (await client.get_variable("api_key")).value == VALUE
            revealed = await client.get_connection("warehouse", reveal_secrets=True)
            assert revealed.password == PASSWORD
    finally:
        after.stop()
    # With the old key alone the command refuses, and changes nothing.
    refused = rotate(database_url, old)
    assert refused.returncode == 1
    assert "nothing was changed" in refused.stderr
