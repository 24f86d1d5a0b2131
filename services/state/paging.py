"""Page requests of List* RPCs, checked at the edge (see :mod:`services.state.store.pages`).

Page tokens leave the service signed (``<token>.<signature>``): a token the service did not
make, or one altered by the caller, is refused before it reaches a query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.errors import InvalidArgument
from services.state.crypto import SecretBox
from services.state.store import pages
from services.state.store.errors import InvalidInput
from services.state.store.pages import Page, PageRequest

SEPARATOR = "."


@dataclass(frozen=True)
class PageTokens:
    """Signs the page tokens a service hands out and checks those it is given."""

    box: SecretBox

    def sign(self, token: str) -> str:
        """``token`` with its signature; the empty token (the last page) stays empty."""
        return f"{token}{SEPARATOR}{self.box.sign(token.encode())}" if token else ""

    def unsigned(self, signed: str) -> str:
        """The token inside a signed one; the empty token for the empty token.

        Raises:
            InvalidArgument: no signature, or one that does not match.

        """
        if not signed:
            return ""
        token, _, signature = signed.rpartition(SEPARATOR)
        if not token or not self.box.verify(token.encode(), signature):
            raise InvalidArgument(
                "page_token", "is not a token this server made; start from the first page"
            )
        return token

    def request(
        self,
        listing: str,
        page_size: int,
        page_token: str,
        filters: Mapping[str, Any] | None = None,
    ) -> PageRequest:
        """The page a List* request asks for (see :func:`services.state.store.pages.page_request`).

        Raises:
            InvalidArgument: a negative ``page_size``, or a ``page_token`` that is forged,
                altered, malformed, or was made for another listing or other filters.

        """
        token = self.unsigned(page_token)
        try:
            return pages.page_request(listing, page_size, token, filters)
        except InvalidInput as err:
            raise InvalidArgument(err.field, err.description) from err

    def fields(self, found: Page[Any]) -> dict[str, Any]:
        """The paging fields of a List* response for one page: the next token and the total."""
        return {"next_page_token": self.sign(found.next_page_token), "total_size": found.total_size}
