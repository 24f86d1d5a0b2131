"""Airflow 3.3's multi-team rule for which consumers an asset event may queue."""

from __future__ import annotations

import pytest

from core.asset_access import ConsumerAccess, SourceAccess, may_queue

TEAMLESS = ConsumerAccess(team=None)
SALES = ConsumerAccess(team="sales")
SALES_FROM_OPS = ConsumerAccess(team="sales", producer_teams=["ops"])
SALES_NO_GLOBAL = ConsumerAccess(team="sales", allow_global_producers=False)


@pytest.mark.parametrize(
    ("consumer", "source", "queued"),
    [
        # The consumer's side: which producers it accepts.
        (TEAMLESS, SourceAccess(teams=["ops"]), True),
        (TEAMLESS, SourceAccess(teams=[], from_api=True), True),
        (SALES, SourceAccess(teams=["sales"]), True),
        (SALES, SourceAccess(teams=["ops"]), False),
        (SALES_FROM_OPS, SourceAccess(teams=["ops"]), True),
        (SALES_FROM_OPS, SourceAccess(teams=["hr"]), False),
        (SALES, SourceAccess(teams=[]), True),  # a teamless producing DAG
        (SALES_NO_GLOBAL, SourceAccess(teams=[]), False),
        (SALES, SourceAccess(teams=[], from_api=True), False),  # a teamless API caller
        # The producer's side: which consumers receive its events.
        (TEAMLESS, SourceAccess(teams=["ops"], allow_global_consumers=False), False),
        (SALES_FROM_OPS, SourceAccess(teams=["ops"], consumer_teams=["sales"]), True),
        (SALES_FROM_OPS, SourceAccess(teams=["ops"], consumer_teams=["hr"]), False),
        (SALES_FROM_OPS, SourceAccess(teams=["ops"], consumer_teams=[]), False),
        (SALES, SourceAccess(teams=["sales"], consumer_teams=[]), True),  # its own team
        (SALES, SourceAccess(teams=[], consumer_teams=["hr"]), False),
    ],
)
def test_both_sides_must_allow_it(
    consumer: ConsumerAccess, source: SourceAccess, queued: bool
) -> None:
    assert may_queue(consumer, source) is queued
