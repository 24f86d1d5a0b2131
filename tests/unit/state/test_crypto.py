"""The secret box: key lists for rotation, page-token signatures."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet

from services.runtime.errors import InvalidArgument
from services.state.crypto import SecretBox, split_keys
from services.state.paging import PageTokens
from services.state.store.errors import Refused
from tradewind_common.config import ConfigError


def key() -> str:
    return Fernet.generate_key().decode()


def test_keys_are_separated_by_commas_or_lines() -> None:
    assert split_keys(" a, b\nc\n\n") == ["a", "b", "c"]


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = key(), key()
    secret = SecretBox(old).encrypt("pw")
    rotating = SecretBox(f"{new},{old}")
    assert rotating.decrypt(secret) == "pw"
    assert SecretBox(new).decrypt(rotating.encrypt("pw")) == "pw"
    assert SecretBox(new).decrypt(rotating.reencrypt(secret)) == "pw"
    with pytest.raises(Refused):
        SecretBox(key()).decrypt(secret)


#: A well-formed key, the same in every test worker (parameters must not vary).
FIXED_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


@pytest.mark.parametrize("keys", ["", "not-a-key", f"{FIXED_KEY},short"])
def test_a_missing_or_malformed_key_is_a_config_error(keys: str) -> None:
    with pytest.raises(ConfigError, match="secret"):
        SecretBox(keys)


def test_page_tokens_are_signed_and_checked_under_every_key() -> None:
    old, new = key(), key()
    signed = PageTokens(SecretBox(old)).sign("cursor")
    assert signed.startswith("cursor.")
    assert PageTokens(SecretBox(f"{new},{old}")).unsigned(signed) == "cursor"
    assert PageTokens(SecretBox(old)).sign("") == ""
    assert PageTokens(SecretBox(old)).unsigned("") == ""
    for forged in ("cursor", "cursor.", f"other.{signed.split('.')[1]}", signed + "x", "0.\x80"):
        with pytest.raises(InvalidArgument, match="not a token this server made"):
            PageTokens(SecretBox(old)).unsigned(forged)
    with pytest.raises(InvalidArgument):
        PageTokens(SecretBox(new)).unsigned(signed)
