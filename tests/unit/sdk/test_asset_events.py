"""outlet_events, inlet_events and triggering_asset_events as task code uses them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tradewind.sdk.asset_events import (
    AssetEventQuery,
    AssetEventResult,
    InletEventsAccessor,
    InletEventsAccessors,
    OutletEventAccessor,
    OutletEventAccessors,
    OutletEventPayload,
    TriggeringAssetEventsAccessor,
    apply_metadata,
)
from tradewind.sdk.assets import Asset, AssetAlias, AssetNameRef, AssetUriRef, Metadata

RAW = Asset("s3://bucket/raw.csv")
CLEAN = Asset("clean", "s3://bucket/clean.parquet", extra={"format": "parquet"})
ALIAS = AssetAlias("partitions")
T0 = datetime(2024, 3, 15, 6, 0, tzinfo=UTC)

CATALOGUE = [RAW, CLEAN]


def resolve(ref: AssetNameRef | AssetUriRef) -> Asset:
    for asset in CATALOGUE:
        if (isinstance(ref, AssetNameRef) and asset.name == ref.name) or (
            isinstance(ref, AssetUriRef) and asset.uri == ref.uri
        ):
            return asset
    raise KeyError(ref)


def event(
    id_: int,
    asset: Asset = RAW,
    *,
    minutes: int = 0,
    aliases: list[AssetAlias] | None = None,
    **extra: Any,
) -> AssetEventResult:
    return AssetEventResult(
        id=id_,
        asset=asset,
        extra=extra,
        source_dag_id="producer",
        source_task_id="load",
        source_run_id="run_1",
        source_aliases=aliases or [],
        timestamp=T0 + timedelta(minutes=minutes),
    )


class FakeStore:
    """A fetch callable over stored events that records what it was asked."""

    def __init__(self, events: list[AssetEventResult]) -> None:
        self.events = events
        self.calls: list[dict[str, Any]] = []

    def __call__(self, query: AssetEventQuery) -> list[AssetEventResult]:
        self.calls.append({f.name: getattr(query, f.name) for f in fields(query)})
        asset, alias_name, after, before = query.asset, query.alias_name, query.after, query.before
        ascending, limit = query.ascending, query.limit
        found = [
            e
            for e in self.events
            if (asset is not None and (e.asset.name, e.asset.uri) == (asset.name, asset.uri))
            or (alias_name is not None and alias_name in [a.name for a in e.source_aliases])
        ]
        found = [
            e
            for e in found
            if (after is None or e.timestamp >= after) and (before is None or e.timestamp <= before)
        ]
        found.sort(key=lambda e: e.timestamp, reverse=not ascending)
        return found[:limit] if limit is not None else found


# AssetEventResult


def test_an_event_has_airflow_defaults() -> None:
    result = AssetEventResult(id=1, asset=RAW, timestamp=T0)
    assert result.extra == {}
    assert result.source_dag_id is None
    assert result.source_task_id is None
    assert result.source_run_id is None
    assert result.source_map_index == -1
    assert result.source_aliases == []
    assert result.origin == "task"


def test_an_event_is_frozen() -> None:
    result = event(1)
    with pytest.raises(AttributeError):
        result.id = 2  # type: ignore[misc]


# outlet_events


def test_setting_an_outlets_extra() -> None:
    outlet_events = OutletEventAccessors(resolve)
    outlet_events[RAW].extra = {"rows": 100}
    outlet_events[CLEAN].extra["rows"] = 90
    assert outlet_events.outlet_events_payload() == [
        OutletEventPayload(asset=RAW, extra={"rows": 100}),
        OutletEventPayload(asset=CLEAN, extra={"rows": 90}),
    ]


def test_an_accessor_is_made_once_per_asset() -> None:
    outlet_events = OutletEventAccessors(resolve)
    accessor = outlet_events[RAW]
    assert outlet_events[Asset("s3://bucket/raw.csv", extra={"other": 1})] is accessor
    assert outlet_events[Asset.ref(uri="s3://bucket/raw.csv")] is accessor
    assert list(outlet_events) == [RAW]
    assert len(outlet_events) == 1


def test_a_reference_is_resolved_once_and_answers_for_both_keys() -> None:
    calls: list[AssetNameRef | AssetUriRef] = []

    def counting(ref: AssetNameRef | AssetUriRef) -> Asset:
        calls.append(ref)
        return resolve(ref)

    outlet_events = OutletEventAccessors(counting)
    by_name = outlet_events[Asset.ref(name="clean")]
    assert outlet_events[Asset.ref(name="clean")] is by_name
    assert outlet_events[Asset.ref(uri="s3://bucket/clean.parquet")] is by_name
    assert outlet_events.for_asset(name="clean") is by_name
    assert outlet_events[CLEAN] is by_name
    assert calls == [AssetNameRef("clean")]


def test_an_unknown_reference_propagates_the_resolvers_error() -> None:
    outlet_events = OutletEventAccessors(resolve)
    with pytest.raises(KeyError):
        outlet_events[Asset.ref(name="nowhere")]


def test_an_outlet_without_extra_is_left_out_of_the_payload() -> None:
    outlet_events = OutletEventAccessors(resolve)
    _ = outlet_events[RAW]
    assert RAW in outlet_events
    assert outlet_events.outlet_events_payload() == []


def test_adding_assets_to_an_alias() -> None:
    outlet_events = OutletEventAccessors(resolve)
    outlet_events[ALIAS].add(Asset("s3://bucket/part=1"), extra={"part": 1})
    outlet_events[ALIAS].add(Asset.ref(name="clean"))
    outlet_events.for_asset_alias(name="partitions").add(Asset("s3://bucket/part=2"))
    assert outlet_events.outlet_events_payload() == [
        OutletEventPayload(Asset("s3://bucket/part=1"), {"part": 1}, "partitions"),
        OutletEventPayload(CLEAN, {}, "partitions"),
        OutletEventPayload(Asset("s3://bucket/part=2"), {}, "partitions"),
    ]
    assert list(outlet_events) == [ALIAS]


def test_add_on_an_asset_accessor_does_nothing() -> None:
    outlet_events = OutletEventAccessors(resolve)
    outlet_events[RAW].add(Asset("s3://bucket/other"), extra={"x": 1})
    assert outlet_events[RAW].asset_alias_events == []
    assert outlet_events.outlet_events_payload() == []


def test_the_added_extra_is_copied() -> None:
    outlet_events = OutletEventAccessors(resolve)
    extra = {"part": 1}
    outlet_events[ALIAS].add(RAW, extra=extra)
    extra["part"] = 2
    assert outlet_events.outlet_events_payload()[0].extra == {"part": 1}


def test_a_lone_alias_accessor_needs_a_resolver_for_references() -> None:
    accessor = OutletEventAccessor(ALIAS)
    accessor.add(RAW)
    with pytest.raises(ValueError, match="resolves no references"):
        accessor.add(Asset.ref(name="raw"))


def test_an_outlet_key_must_be_an_asset_or_alias() -> None:
    with pytest.raises(TypeError, match="either an asset or an asset alias"):
        OutletEventAccessors(resolve)["s3://bucket/raw.csv"]  # type: ignore[index]


def test_for_asset_needs_a_name_or_a_uri() -> None:
    outlet_events = OutletEventAccessors(resolve)
    assert (
        outlet_events.for_asset(name="clean", uri="s3://bucket/clean.parquet")
        is (outlet_events[CLEAN])
    )
    assert outlet_events.for_asset(uri="s3://bucket/raw.csv") is outlet_events[RAW]
    with pytest.raises(ValueError, match="name and uri cannot both be None"):
        outlet_events.for_asset()


# Metadata


def test_yielded_metadata_sets_the_extra_and_the_alias_event() -> None:
    outlet_events = OutletEventAccessors(resolve)

    def task() -> Iterator[object]:
        yield Metadata(RAW, {"rows": 5})
        yield Metadata(Asset("s3://bucket/part=3"), {"part": 3}, alias=ALIAS)
        yield "not metadata"

    handled = [apply_metadata(outlet_events, item) for item in task()]
    assert handled == [True, True, False]
    assert outlet_events.outlet_events_payload() == [
        OutletEventPayload(RAW, {"rows": 5}),
        OutletEventPayload(Asset("s3://bucket/part=3"), {"part": 3}),
        OutletEventPayload(Asset("s3://bucket/part=3"), {"part": 3}, "partitions"),
    ]


def test_metadata_updates_rather_than_replaces() -> None:
    outlet_events = OutletEventAccessors(resolve)
    outlet_events[RAW].extra = {"rows": 1, "owner": "ops"}
    apply_metadata(outlet_events, Metadata(RAW, {"rows": 2}))
    assert outlet_events[RAW].extra == {"rows": 2, "owner": "ops"}


# inlet_events


def test_reading_the_latest_event_of_an_inlet() -> None:
    store = FakeStore([event(1, rows=1), event(2, minutes=5, rows=2), event(3, CLEAN, minutes=1)])
    inlet_events = InletEventsAccessors([RAW, CLEAN], store, resolve)
    assert inlet_events[RAW][-1].extra == {"rows": 2}
    assert [e.id for e in inlet_events[RAW]] == [1, 2]
    assert len(inlet_events[CLEAN]) == 1
    assert store.calls[0] == {
        "asset": RAW,
        "alias_name": None,
        "after": None,
        "before": None,
        "ascending": True,
        "limit": None,
    }


def test_an_inlet_by_its_position() -> None:
    store = FakeStore([event(1), event(2, CLEAN)])
    inlet_events = InletEventsAccessors([RAW, CLEAN], store, resolve)
    assert inlet_events[1][0].id == 2
    assert inlet_events[-2][0].id == 1
    with pytest.raises(IndexError):
        inlet_events[2]


def test_a_position_that_holds_no_asset_is_an_index_error() -> None:
    inlet_events = InletEventsAccessors([RAW, "not an asset"], FakeStore([]), resolve)
    with pytest.raises(IndexError):
        inlet_events[1]
    assert list(inlet_events) == [RAW, "not an asset"]
    assert len(inlet_events) == 2


def test_the_events_are_fetched_once_until_the_query_changes() -> None:
    store = FakeStore([event(1), event(2, minutes=10), event(3, minutes=20)])
    events = InletEventsAccessors([RAW], store, resolve)[RAW]
    assert len(events) == 3
    assert events[0].id == 1
    assert len(store.calls) == 1
    assert events.ascending(False).limit(2) is events
    assert [e.id for e in events] == [3, 2]
    assert [e.id for e in events[:1]] == [3]
    assert len(store.calls) == 2
    assert store.calls[-1]["ascending"] is False
    assert store.calls[-1]["limit"] == 2


def test_after_and_before_take_iso_strings_and_datetimes() -> None:
    store = FakeStore([event(1), event(2, minutes=10), event(3, minutes=20)])
    events = InletEventsAccessors([RAW], store, resolve)[RAW]
    chosen = events.after("2024-03-15T06:05:00").before(T0 + timedelta(minutes=15))
    assert [e.id for e in chosen] == [2]
    assert store.calls[-1]["after"] == datetime(2024, 3, 15, 6, 5, tzinfo=UTC)
    assert store.calls[-1]["after"].tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-15T08:00:00+02:00", datetime(2024, 3, 15, 6, 0, tzinfo=UTC)),
        ("2024-03-15T06:00:00Z", datetime(2024, 3, 15, 6, 0, tzinfo=UTC)),
        ("2024-03-15", datetime(2024, 3, 15, tzinfo=UTC)),
        (datetime(2024, 3, 15, 6, 0), datetime(2024, 3, 15, 6, 0, tzinfo=UTC)),
        (
            datetime(2024, 3, 15, 1, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2024, 3, 15, 6, 0, tzinfo=UTC),
        ),
    ],
)
def test_times_become_aware_utc(value: datetime | str, expected: datetime) -> None:
    store = FakeStore([])
    list(InletEventsAccessors([RAW], store, resolve)[RAW].after(value).before(value))
    assert store.calls[-1]["after"] == expected
    assert store.calls[-1]["after"].utcoffset() == timedelta(0)
    assert store.calls[-1]["before"] == expected


def test_a_bad_time_is_refused() -> None:
    events = InletEventsAccessors([RAW], FakeStore([]), resolve)[RAW]
    with pytest.raises(ValueError, match="after='yesterday' is no ISO 8601"):
        events.after("yesterday")
    with pytest.raises(TypeError, match="before takes a datetime or an ISO 8601 string"):
        events.before(1710482400)  # type: ignore[arg-type]


def test_the_events_of_an_alias() -> None:
    store = FakeStore(
        [event(1, Asset("s3://bucket/part=1"), aliases=[ALIAS]), event(2, RAW, minutes=1)]
    )
    inlet_events = InletEventsAccessors([ALIAS, RAW], store, resolve)
    assert [e.asset.uri for e in inlet_events[ALIAS]] == ["s3://bucket/part=1"]
    assert store.calls[-1]["alias_name"] == "partitions"
    assert store.calls[-1]["asset"] is None
    assert inlet_events.for_asset_alias(name="partitions")[0].id == 1


def test_references_among_the_inlets_are_resolved_when_first_read() -> None:
    resolved: list[AssetNameRef | AssetUriRef] = []

    def recording(ref: AssetNameRef | AssetUriRef) -> Asset:
        resolved.append(ref)
        return resolve(ref)

    store = FakeStore([event(1, CLEAN)])
    inlet_events = InletEventsAccessors([Asset.ref(name="clean")], store, recording)
    assert resolved == []  # the context is made before the task can reach the state service
    assert inlet_events[CLEAN][0].id == 1
    assert resolved == [AssetNameRef("clean")]
    assert inlet_events[Asset.ref(uri="s3://bucket/clean.parquet")][0].id == 1
    assert inlet_events[0][0].id == 1
    assert store.calls[-1]["asset"] == CLEAN


def test_what_is_not_an_inlet_is_a_key_error() -> None:
    inlet_events = InletEventsAccessors([RAW], FakeStore([]), resolve)
    with pytest.raises(KeyError):
        inlet_events[CLEAN]
    with pytest.raises(KeyError):
        inlet_events[Asset.ref(name="clean")]
    with pytest.raises(KeyError):
        inlet_events[ALIAS]
    with pytest.raises(TypeError, match="unknown type"):
        inlet_events["raw"]  # type: ignore[index]


def test_an_inlet_accessor_reads_one_asset_or_one_alias() -> None:
    with pytest.raises(ValueError, match="either an asset or an alias"):
        InletEventsAccessor(FakeStore([]))
    with pytest.raises(ValueError, match="either an asset or an alias"):
        InletEventsAccessor(FakeStore([]), asset=RAW, alias_name="partitions")


# triggering_asset_events


def test_the_events_that_triggered_a_run() -> None:
    part = Asset("s3://bucket/part=1")
    events = [event(1, rows=1), event(2, CLEAN), event(3, part, aliases=[ALIAS]), event(4)]
    triggering_asset_events = TriggeringAssetEventsAccessor.build(events, resolve)
    assert [e.id for e in triggering_asset_events[RAW]] == [1, 4]
    assert triggering_asset_events[RAW][0].extra == {"rows": 1}
    assert [e.id for e in triggering_asset_events[ALIAS]] == [3]
    assert [e.id for e in triggering_asset_events[part]] == [3]
    assert list(triggering_asset_events) == [RAW, CLEAN, part, ALIAS]
    assert len(triggering_asset_events) == 4


def test_triggering_events_by_reference_and_by_plain_asset() -> None:
    triggering_asset_events = TriggeringAssetEventsAccessor.build([event(1, CLEAN)], resolve)
    assert triggering_asset_events[Asset.ref(name="clean")][0].id == 1
    assert triggering_asset_events[Asset("clean", "s3://bucket/clean.parquet")][0].id == 1
    assert triggering_asset_events.for_asset(uri="s3://bucket/clean.parquet")[0].id == 1


def test_a_missing_triggering_key_is_a_key_error() -> None:
    triggering_asset_events = TriggeringAssetEventsAccessor.build([event(1)], resolve)
    with pytest.raises(KeyError):
        triggering_asset_events[CLEAN]
    with pytest.raises(KeyError):
        triggering_asset_events[ALIAS]
    assert CLEAN not in triggering_asset_events
    assert triggering_asset_events.get(CLEAN) is None
    with pytest.raises(TypeError, match="either an asset or an asset alias"):
        triggering_asset_events["raw"]  # type: ignore[index]
