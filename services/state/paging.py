"""Page requests of List* RPCs, checked at the edge (see :mod:`services.state.store.pages`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.runtime.errors import InvalidArgument
from services.state.store import pages
from services.state.store.errors import InvalidInput
from services.state.store.pages import Page, PageRequest


def page_request(
    listing: str, page_size: int, page_token: str, filters: Mapping[str, Any] | None = None
) -> PageRequest:
    """The page a List* request asks for (see :func:`services.state.store.pages.page_request`).

    Raises:
        InvalidArgument: a negative ``page_size``, or a ``page_token`` that is malformed or
            was made for another listing or other filters.

    """
    try:
        return pages.page_request(listing, page_size, page_token, filters)
    except InvalidInput as err:
        raise InvalidArgument(err.field, err.description) from err


def page_fields(found: Page[Any]) -> dict[str, Any]:
    """The paging fields of a List* response for one page: the next token and the total."""
    return {"next_page_token": found.next_page_token, "total_size": found.total_size}
