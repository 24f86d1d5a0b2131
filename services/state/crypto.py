"""Secrets at rest and page tokens: Fernet encryption with key rotation, HMAC signatures.

Connection passwords and extras and variable values are stored encrypted with Fernet (AES-128-CBC
with an HMAC). The key setting is a list: the first key encrypts, every key decrypts, so keys
rotate without downtime: put the new key first, restart the replicas, run
``tradewind db rotate-fernet-key`` (re-encrypts every secret with the first key), then drop the
old key. Page tokens are signed with a key derived from the same keys, so a forged or altered
token is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.state.store.errors import Refused
from tradewind_common.config import ConfigError
from tradewind_common.secret_files import read_or_create_secret

KEY_FILE = "fernet.key"

#: What the API shows instead of a secret that is set.
REDACTED = "***"
#: What page-token signatures are derived for, so that no other use shares their key.
SIGNING_CONTEXT = b"tradewind page tokens v1"


def split_keys(text: str) -> list[str]:
    """The keys of a key setting or key file: separated by commas or line breaks."""
    return [key.strip() for key in re.split(r"[,\s]+", text) if key.strip()]


def _signing_key(fernet_key: str) -> bytes:
    derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SIGNING_CONTEXT)
    return derive.derive(base64.urlsafe_b64decode(fernet_key.encode()))


class SecretBox:
    """Encrypts and decrypts secret fields, and signs page tokens, with a list of keys."""

    def __init__(self, keys: str | Sequence[str]) -> None:
        """Use ``keys`` (a list, or text with commas or line breaks): the first encrypts.

        Raises:
            ConfigError: no key, or one that is not a Fernet key.

        """
        listed = split_keys(keys) if isinstance(keys, str) else [k.strip() for k in keys]
        if not listed:
            raise ConfigError("no secret key: set --secret-key / TRADEWIND_SECRET_KEY")
        try:
            fernets = [Fernet(key.encode()) for key in listed]
        except (ValueError, TypeError) as err:
            raise ConfigError(
                "invalid --secret-key / TRADEWIND_SECRET_KEY: expected Fernet keys"
                " (32 url-safe base64-encoded bytes each), separated by commas"
            ) from err
        self._fernet = MultiFernet(fernets)
        self._signing_keys = [_signing_key(key) for key in listed]

    @property
    def key_count(self) -> int:
        """How many keys decrypt (one encrypts)."""
        return len(self._signing_keys)

    def encrypt(self, plain: str) -> str:
        """Encrypt ``plain`` with the first key; the empty string stays empty."""
        return self._fernet.encrypt(plain.encode()).decode() if plain else ""

    def decrypt(self, token: str) -> str:
        """Decrypt a value made by :meth:`encrypt` with any of the keys.

        Raises:
            Refused: the value was encrypted with a key not in the list.

        """
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as err:
            raise Refused(
                "a stored secret cannot be decrypted: the state service runs without the"
                " secret key that encrypted it (list the old key after the new one while"
                " rotating keys)"
            ) from err

    def reencrypt(self, token: str) -> str:
        """The same secret encrypted with the first key (see :meth:`decrypt` for errors)."""
        if not token:
            return ""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as err:
            raise Refused(
                "a stored secret cannot be decrypted with any of the configured keys"
            ) from err

    def sign(self, data: bytes) -> str:
        """A signature of ``data`` (url-safe, unpadded) made with the first key."""
        return _signature(self._signing_keys[0], data)

    def verify(self, data: bytes, signature: str) -> bool:
        """Whether ``signature`` is :meth:`sign`'s for ``data`` under any of the keys."""
        given = signature.encode(errors="replace")  # compare_digest takes ASCII str only
        return any(
            hmac.compare_digest(_signature(key, data).encode(), given) for key in self._signing_keys
        )


def _signature(key: bytes, data: bytes) -> str:
    digest = hmac.new(key, data, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def load_or_create_key(configured: str, home: Path) -> str:
    """The configured keys, or those in ``home/fernet.key`` (made on first use, mode 0600)."""
    if configured:
        return configured
    path = home.expanduser() / KEY_FILE
    return read_or_create_secret(path, lambda: Fernet.generate_key().decode())
