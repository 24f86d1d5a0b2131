"""The scheduler's decision on asset-scheduled DAGs: conditions over queued asset events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from protos.dag.v1 import message_pb2 as dag_pb2
from scheduler.asset_conditions import AssetDag, QueuedAsset, condition_holds, plan_asset_run
from tradewind import Asset, AssetAlias
from tradewind.sdk.assets import condition_message, normalise_schedule_assets

T0 = datetime(2026, 5, 1, tzinfo=UTC)
A, B, C = Asset("s3://lake/a"), Asset("s3://lake/b"), Asset("c")


def queued(*assets: Asset, aliases: dict[str, set[str]] | None = None) -> list[QueuedAsset]:
    names = aliases or {}
    return [
        QueuedAsset(a.name, a.uri, T0 + timedelta(seconds=i), frozenset(names.get(a.uri, set())))
        for i, a in enumerate(assets)
    ]


def holds(schedule: object, items: list[QueuedAsset]) -> bool:
    return condition_holds(condition_message(normalise_schedule_assets(schedule)), items)


def test_a_list_needs_every_asset() -> None:
    assert not holds([A, B], queued(A))
    assert holds([A, B], queued(B, A))


@pytest.mark.parametrize(
    ("present", "expected"),
    [((), False), ((A,), False), ((B,), False), ((C,), True), ((A, B), True), ((A, C), True)],
)
def test_and_or_combine_as_written(present: tuple[Asset, ...], expected: bool) -> None:
    assert holds((A & B) | C, queued(*present)) is expected


def test_an_asset_is_its_name_and_uri() -> None:
    other = Asset(name="s3://lake/a", uri="s3://elsewhere/a")
    assert not holds([A], queued(other))


def test_references_match_by_name_or_uri() -> None:
    assert holds(Asset.ref(name="c"), queued(C))
    assert holds(Asset.ref(uri="s3://lake/a"), queued(A))
    assert not holds(Asset.ref(name="s3://lake/b"), queued(A))


def test_an_alias_holds_when_an_asset_attached_to_it_has_an_event() -> None:
    alias = AssetAlias("partitions")
    assert holds(alias, queued(A, aliases={"s3://lake/a": {"partitions"}}))
    assert not holds(alias, queued(A, aliases={"s3://lake/a": {"other"}}))
    assert holds(alias & B, queued(A, B, aliases={"s3://lake/a": {"partitions"}}))


def test_a_part_without_kind_is_refused() -> None:
    condition = dag_pb2.AssetCondition(
        all=dag_pb2.AssetConditions(parts=[dag_pb2.AssetCondition()])
    )
    with pytest.raises(ValueError, match="names no asset"):
        condition_holds(condition, queued(A))


def dag(items: list[QueuedAsset], *, active: int = 0, limit: int = 16) -> AssetDag:
    return AssetDag(
        dag_id="consumer",
        content_hash="h",
        condition=condition_message(normalise_schedule_assets([A, B])),
        queued=tuple(items),
        active_runs=active,
        max_active_runs=limit,
    )


def test_a_run_consumes_every_queued_event_and_takes_the_newest_as_its_date() -> None:
    run = plan_asset_run(dag(queued(A, B, C)))
    assert run is not None
    assert [q.name for q in run.consumed] == ["s3://lake/a", "s3://lake/b", "c"]
    assert run.triggered_at == T0 + timedelta(seconds=2)


def test_no_run_until_the_condition_holds_or_while_runs_are_at_the_limit() -> None:
    assert plan_asset_run(dag(queued(A))) is None
    assert plan_asset_run(dag([])) is None
    assert plan_asset_run(dag(queued(A, B), active=1, limit=1)) is None
    assert plan_asset_run(dag(queued(A, B), active=1, limit=2)) is not None
