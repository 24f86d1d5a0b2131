"""Keyset pagination with opaque page tokens.

A token holds the sort key of the last item returned and a fingerprint of the filters, so a
page never skips or repeats a row when rows are added meanwhile, and a token reused with other
filters is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """The page size to use: the default for 0, capped at the maximum.

    Raises:
        InvalidArgument: a negative size.

    """
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def fingerprint(filters: Any) -> str:
    """A short digest of the filters a listing was made with."""
    text = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageToken:
    """Where the previous page ended."""

    last_key: list[Any]
    filters: str

    def encode(self) -> str:
        """The opaque text sent to the client."""
        raw = json.dumps({"k": self.last_key, "f": self.filters}, default=str)
        return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str, filters: Any) -> list[Any] | None:
    """The last sort key of a page token made with the same filters; None for no token.

    Raises:
        InvalidArgument: the token is malformed or was made with other filters.

    """
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token.encode()))
        last_key, token_filters = raw["k"], raw["f"]
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidArgument("page_token", "is not a token this server made") from err
    if token_filters != fingerprint(filters) or not isinstance(last_key, list):
        raise InvalidArgument("page_token", "was made for other filters; start from the first page")
    return last_key


def next_token(rows: Sequence[Any], size: int, key_of: Any, filters: Any) -> str:
    """The token of the next page, or "" when ``rows`` (fetched with size + 1) is the last."""
    if len(rows) <= size:
        return ""
    return PageToken(last_key=list(key_of(rows[size - 1])), filters=fingerprint(filters)).encode()
