"""Keyset page tokens (services/state/store/pages.py) and the page requests built on them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from services.state.db.engine import Database
from services.state.db.models import Variable
from services.state.store import pages as paging
from services.state.store.errors import InvalidInput
from services.state.store.pages import Page, page_request
from services.state.store.pools import open_slots

FILTERS = {"key_contains": "etl"}


def token_after(last_key: Any, scope: dict[str, Any]) -> str:
    """The token a page ending at ``last_key`` hands out (a page of 1 with a row after it)."""
    return paging.next_token([last_key, "more"], 1, lambda key: [key], scope)


@pytest.mark.parametrize(
    ("requested", "size"),
    [(0, 100), (1, 1), (100, 100), (1000, 1000), (1001, 1000), (2**31 - 1, 1000)],
)
def test_page_size_defaults_and_caps(requested: int, size: int) -> None:
    assert paging.clamp_page_size(requested) == size


def test_a_negative_page_size_names_the_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        paging.clamp_page_size(-1)
    assert raised.value.field == "page_size"


def test_the_last_page_has_no_token() -> None:
    assert paging.next_token(["a", "b"], 2, lambda key: [key], FILTERS) == ""
    assert paging.next_token([], 2, lambda key: [key], FILTERS) == ""
    assert paging.next_token(["a", "b", "c"], 2, lambda key: [key], FILTERS) != ""


@given(
    last_key=st.text(),
    filters=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text() | st.booleans()),
)
def test_a_token_resumes_after_its_last_key_with_the_same_filters(
    last_key: str, filters: dict[str, Any]
) -> None:
    request = page_request(
        "ListThings", 10, token_after(last_key, {"listing": "ListThings", **filters}), filters
    )
    assert request.after == [last_key]
    assert request.size == 10


def test_a_token_is_refused_by_other_filters_and_other_listings() -> None:
    token = page_request("ListVariables", 1, "", FILTERS)
    made = token_after("etl_001", dict(token.scope))
    assert page_request("ListVariables", 1, made, FILTERS).after == ["etl_001"]
    for listing, filters in (("ListVariables", {"key_contains": "other"}), ("ListPools", FILTERS)):
        with pytest.raises(InvalidInput, match="other filters") as raised:
            page_request(listing, 1, made, filters)
        assert raised.value.field == "page_token"


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"k": "x"}).encode()).decode(),
    ],
)
def test_malformed_tokens_name_the_field(token: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        page_request("ListVariables", 1, token, FILTERS)
    assert raised.value.field == "page_token"


def test_a_token_whose_key_does_not_fit_the_order_is_refused(database: Database) -> None:
    scope = {"listing": "ListVariables", **FILTERS}
    forged = paging.PageToken(last_key=[1, 2], filters=paging.fingerprint(scope)).encode()
    request = page_request("ListVariables", 1, forged, FILTERS)
    with pytest.raises(InvalidInput) as raised:
        database.run_write(lambda s: paging.keyset_page(s, select(Variable), Variable.key, request))
    assert raised.value.field == "page_token"


def test_page_map_keeps_the_token_and_total() -> None:
    page = Page(items=[1, 2], next_page_token="t", total_size=7).map(str)
    assert page == Page(items=["1", "2"], next_page_token="t", total_size=7)


@pytest.mark.parametrize(
    ("slots", "running", "queued", "deferred", "include_deferred", "expected"),
    [
        (10, 3, 2, 4, False, 5),
        (10, 3, 2, 4, True, 1),
        (10, 8, 8, 0, False, 0),  # shrunk below its usage: none open, never -1
        (-1, 3, 2, 4, True, -1),  # unlimited
        (0, 0, 0, 0, False, 0),
    ],
)
def test_open_slots(
    slots: int, running: int, queued: int, deferred: int, include_deferred: bool, expected: int
) -> None:
    assert (
        open_slots(
            slots,
            running=running,
            queued=queued,
            deferred=deferred,
            include_deferred=include_deferred,
        )
        == expected
    )
