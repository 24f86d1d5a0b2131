"""Encryption of connection secrets at rest (Fernet: AES-128-CBC with an HMAC)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from services.state.store.errors import Refused
from tradewind_common.config import ConfigError

KEY_FILE = "fernet.key"

#: What the API shows instead of a secret that is set.
REDACTED = "***"


class SecretBox:
    """Encrypts and decrypts secret fields with one Fernet key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as err:
            raise ConfigError(
                "invalid --secret-key / TRADEWIND_SECRET_KEY: expected a Fernet key"
                " (32 url-safe base64-encoded bytes)"
            ) from err

    def encrypt(self, plain: str) -> str:
        """Encrypt ``plain``; the empty string stays empty."""
        return self._fernet.encrypt(plain.encode()).decode() if plain else ""

    def decrypt(self, token: str) -> str:
        """Decrypt a value made by :meth:`encrypt`.

        Raises:
            Refused: the value was encrypted with another key.

        """
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as err:
            raise Refused(
                "a stored secret cannot be decrypted: the state service runs with another"
                " secret key than the one that encrypted it"
            ) from err


def load_or_create_key(configured: str, home: Path) -> str:
    """The configured key, or the one in ``home/fernet.key`` (made on first use, mode 0600)."""
    if configured:
        return configured
    path = home.expanduser() / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
