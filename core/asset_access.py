"""Which consumers an asset event may queue when DAGs belong to teams (Airflow 3's multi-team).

Pure decisions, Airflow 3.3's rules. Both sides must agree for a consumer to be queued. The
consumer decides which producers it accepts: a teamless consumer accepts every producer; a
team's consumer accepts its own team, the teams its schedule lists for the asset
(``AssetAccessControl(producer_teams=...)``) and, unless it says ``allow_global=False``,
teamless producing DAGs; an event from outside (the API) by a teamless caller reaches
teamless consumers only. The producer decides which consumers receive its events: an outlet
with ``consumer_teams`` reaches its own team and those teams only, and one with
``allow_global=False`` reaches no teamless consumer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsumerAccess:
    """A consumer DAG and what its schedule says about the asset's producers."""

    team: str | None
    producer_teams: Collection[str] = ()
    allow_global_producers: bool = True


@dataclass(frozen=True)
class SourceAccess:
    """Who recorded the event and what its outlet says about consumers."""

    teams: Collection[str]
    from_api: bool = False
    #: None: any team's consumers may receive it.
    consumer_teams: Collection[str] | None = None
    allow_global_consumers: bool = True


def may_queue(consumer: ConsumerAccess, source: SourceAccess) -> bool:
    """Whether an event from ``source`` may queue ``consumer``."""
    teams = set(source.teams)
    if consumer.team is None:
        producer_ok = True
    elif not teams:
        producer_ok = not source.from_api and consumer.allow_global_producers
    else:
        producer_ok = consumer.team in teams or bool(teams & set(consumer.producer_teams))
    if not producer_ok:
        return False
    if consumer.team is None:
        return source.allow_global_consumers
    if consumer.team in teams or source.consumer_teams is None:
        return True
    return consumer.team in source.consumer_teams
