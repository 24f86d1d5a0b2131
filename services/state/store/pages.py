"""Keyset pagination with opaque page tokens, for every List* RPC.

A token holds the sort key of the last item returned and a fingerprint of the listing's name
and filters, so a page never skips or repeats a row when rows are added meanwhile, and a token
reused with another listing or other filters is refused. Listings are ordered by one or more
columns that together are unique; a page starts right after the previous page's last key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from services.state.store.errors import InvalidInput

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def clamp_page_size(requested: int) -> int:
    """The page size to use: the default for 0, capped at the maximum.

    Raises:
        InvalidInput: a negative size.

    """
    if requested < 0:
        raise InvalidInput("page_size", "must not be negative")
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
        InvalidInput: the token is malformed or was made with other filters.

    """
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token.encode()))
        last_key, token_filters = raw["k"], raw["f"]
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidInput("page_token", "is not a token this server made") from err
    if token_filters != fingerprint(filters) or not isinstance(last_key, list):
        raise InvalidInput("page_token", "was made for other filters; start from the first page")
    return last_key


def next_token(rows: Sequence[Any], size: int, key_of: Any, filters: Any) -> str:
    """The token of the next page, or "" when ``rows`` (fetched with size + 1) is the last."""
    if len(rows) <= size:
        return ""
    return PageToken(last_key=list(key_of(rows[size - 1])), filters=fingerprint(filters)).encode()


@dataclass(frozen=True)
class PageRequest:
    """A validated page request of one listing."""

    #: How many items to return at most.
    size: int
    #: The sort key of the last item of the previous page; None for the first page.
    after: list[Any] | None
    #: The listing's name and filters; a page token is valid only with the same ones.
    scope: Mapping[str, Any]


def page_request(
    listing: str, page_size: int, page_token: str, filters: Mapping[str, Any] | None = None
) -> PageRequest:
    """Check the paging fields of a List* request.

    Args:
        listing: the RPC's name, so that a token of one listing is refused by another.
        page_size: as requested; 0 means the default, above the maximum means the maximum.
        page_token: the previous response's ``next_page_token``, "" for the first page.
        filters: the request's filters, JSON-encodable (sort repeated values first).

    Returns:
        The page to read.

    Raises:
        InvalidInput: a negative ``page_size``, or a ``page_token`` that is malformed or
            was made for another listing or other filters.

    """
    scope = {"listing": listing, **(filters or {})}
    size = clamp_page_size(page_size)
    return PageRequest(size=size, after=decode_token(page_token, scope), scope=scope)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing."""

    items: list[T]
    #: "" on the last page.
    next_page_token: str
    #: How many items match the filters, over all pages.
    total_size: int

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with every item converted."""
        return Page(
            items=[convert(item) for item in self.items],
            next_page_token=self.next_page_token,
            total_size=self.total_size,
        )


#: A sort column and whether it is descending.
Order = tuple[InstrumentedAttribute[Any], bool]


def _token_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _column_value(column: InstrumentedAttribute[Any], value: Any) -> Any:
    # A TypeDecorator (such as the UTC timestamp type) reports the type it decorates.
    kind = getattr(column.type, "impl_instance", column.type).python_type
    try:
        if kind is datetime:
            return datetime.fromisoformat(str(value))
        if kind is int:
            return int(value)
    except (TypeError, ValueError) as err:
        raise InvalidInput("page_token", "is not a token this server made") from err
    return str(value)


def _after(order: Sequence[Order], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in ``order`` (a lexicographic comparison)."""
    branches = []
    for index, (column, descending) in enumerate(order):
        equal = [order[i][0] == values[i] for i in range(index)]
        beyond = column < values[index] if descending else column > values[index]
        branches.append(and_(*equal, beyond))
    return or_(false(), *branches)


def keyset_page(
    session: Session,
    query: Select[Any],
    order: InstrumentedAttribute[Any] | Sequence[Order],
    page: PageRequest,
) -> Page[Any]:
    """Read one page of ``query`` (a filtered select of one model), in ``order``.

    Args:
        session: the transaction to read in.
        query: the rows that match the listing's filters, unordered.
        order: one unique column (ascending), or columns with their direction that together
            are unique.
        page: where to start and how many rows to return.

    Returns:
        The rows of the page, the token of the next one and the number of matching rows.

    Raises:
        InvalidInput: the page token does not fit the listing's order.

    """
    columns: list[Order] = (
        [(order, False)] if isinstance(order, InstrumentedAttribute) else list(order)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if page.after is not None:
        if len(page.after) != len(columns):
            raise InvalidInput("page_token", "is not a token this server made")
        values = [_column_value(c, v) for (c, _), v in zip(columns, page.after, strict=True)]
        query = query.where(_after(columns, values))
    ordered = query.order_by(*[c.desc() if desc else c.asc() for c, desc in columns])
    rows = list(session.scalars(ordered.limit(page.size + 1)))
    token = next_token(
        rows,
        page.size,
        lambda row: [_token_value(getattr(row, c.key)) for c, _ in columns],
        page.scope,
    )
    return Page(items=rows[: page.size], next_page_token=token, total_size=int(total))
