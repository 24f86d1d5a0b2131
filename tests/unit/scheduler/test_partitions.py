"""The scheduler's plan for a partitioned consumer: events mapped to partitions, runs for the
complete ones (scheduler.partitions), and its conversion from and to the contract."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.partitions import (
    AllowedKeyMapper,
    DayWindow,
    FanOutMapper,
    FixedKeyMapper,
    IdentityMapper,
    MinimumCount,
    PartitionMapper,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfHourMapper,
    StartOfWeekMapper,
    WeekWindow,
)
from protos.asset.v1 import message_pb2 as asset_pb2
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.scheduler.v1 import message_pb2 as scheduler_pb2
from scheduler.convert import partition_plan_message, partitioned_dag
from scheduler.partitions import (
    DEFAULT_MAX_DOWNSTREAM_KEYS,
    Assignment,
    PartitionedDag,
    PartitionEvent,
    PartitionPlan,
    PartitionRun,
    Pending,
    Received,
    assign,
    partition_complete,
    plan_partitions,
)
from services.runtime.partitions import AssetMappers, asset_mappers
from services.runtime.protoconv import stamp
from tradewind import DAG, Asset, EmptyOperator, PartitionedAssetTimetable
from tradewind.sdk.assets import BaseAsset, condition_message, normalise_schedule_assets
from tradewind.sdk.serialization import dag_definition

T0 = datetime(2024, 3, 13, 12, tzinfo=UTC)
A = Asset("a", "s3://lake/a")
B = Asset("b", "s3://lake/b")
DAY = "2024-03-13"
HOURS = [f"{DAY}T{hour:02d}:00:00" for hour in range(24)]
WEEK = [f"2024-03-{day}" for day in range(11, 18)]  # Monday 11 to Sunday 17
WEDNESDAY = "2024-03-13T10:42:15"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def event(event_id: int, asset: Asset, key: str, date: datetime | None = None) -> PartitionEvent:
    return PartitionEvent(
        event_id=event_id,
        name=asset.name,
        uri=asset.uri,
        partition_key=key,
        created_at=T0 + timedelta(minutes=event_id),
        partition_date=date,
    )


def got(event_id: int, asset: Asset, key: str) -> Received:
    """What a partition received from ``event(event_id, asset, key)``."""
    return Received(event_id, asset.name, asset.uri, key, T0 + timedelta(minutes=event_id))


def consumer(
    schedule: BaseAsset | list[BaseAsset] = A,
    *,
    queued: Iterable[PartitionEvent] = (),
    pending: Iterable[Pending] = (),
    default: PartitionMapper | None = None,
    by_name: Mapping[str, PartitionMapper] | None = None,
    by_uri: Mapping[str, PartitionMapper] | None = None,
    active_runs: int = 0,
    max_active_runs: int = 16,
) -> PartitionedDag:
    return PartitionedDag(
        dag_id="consumer",
        content_hash="h1",
        condition=condition_message(normalise_schedule_assets(schedule)),
        mappers=AssetMappers(dict(by_name or {}), dict(by_uri or {}), default or IdentityMapper()),
        queued=tuple(queued),
        pending=tuple(pending),
        active_runs=active_runs,
        max_active_runs=max_active_runs,
    )


def plan(dag: PartitionedDag, cap: int = DEFAULT_MAX_DOWNSTREAM_KEYS) -> PartitionPlan:
    result = plan_partitions(dag, cap)
    assert result is not None
    return result


def hourly_rollup(**policy: Any) -> RollupMapper:
    return RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow(), **policy)


# --- identity mapping ---------------------------------------------------------------------


def test_an_event_with_identity_mapping_makes_one_run_for_its_key() -> None:
    assert plan_partitions(consumer(queued=[event(1, A, "us")])) == PartitionPlan(
        dag_id="consumer",
        content_hash="h1",
        assignments=(Assignment(1, ("us",)),),
        runs=(PartitionRun("us", 1, None),),
    )


def test_events_of_one_key_make_one_run_that_counts_them_all() -> None:
    result = plan(consumer(queued=[event(1, A, "us"), event(2, A, "eu"), event(3, A, "us")]))
    assert result.assignments == (
        Assignment(1, ("us",)),
        Assignment(2, ("eu",)),
        Assignment(3, ("us",)),
    )
    assert result.runs == (PartitionRun("us", 2, None), PartitionRun("eu", 1, None))


def test_the_default_cap_is_airflows() -> None:
    assert DEFAULT_MAX_DOWNSTREAM_KEYS == 1000


# --- asset conditions ---------------------------------------------------------------------


def test_and_waits_for_both_assets_events_for_the_same_key() -> None:
    first = plan(consumer(A & B, queued=[event(1, A, "k1"), event(2, B, "k2")]))
    assert first.assignments == (Assignment(1, ("k1",)), Assignment(2, ("k2",)))
    assert first.runs == ()
    both = plan(consumer(A & B, queued=[event(1, A, "k1"), event(2, B, "k2"), event(3, B, "k1")]))
    assert both.runs == (PartitionRun("k1", 2, None),)


@pytest.mark.parametrize("asset", [A, B])
def test_or_runs_on_either_assets_event(asset: Asset) -> None:
    result = plan(consumer(A | B, queued=[event(1, asset, "k")]))
    assert result.runs == (PartitionRun("k", 1, None),)


def test_an_asset_outside_the_condition_satisfies_nothing() -> None:
    other = Asset("c", "s3://lake/c")
    result = plan(consumer(A, queued=[event(1, other, "k")]))
    assert result.assignments == (Assignment(1, ("k",)),)
    assert result.runs == ()


def test_a_pending_partition_combines_with_new_events() -> None:
    waiting = Pending("k1", (got(1, A, "k1"),))
    result = plan(consumer(A & B, queued=[event(2, B, "k1")], pending=[waiting]))
    assert result.assignments == (Assignment(2, ("k1",)),)
    assert result.runs == (PartitionRun("k1", 2, None),)


def test_a_pending_partition_still_incomplete_waits() -> None:
    waiting = Pending("k1", (got(1, A, "k1"),))
    result = plan(consumer(A & B, queued=[event(2, A, "k1")], pending=[waiting]))
    assert result.assignments == (Assignment(2, ("k1",)),)
    assert result.runs == ()


def test_a_complete_pending_partition_runs_without_new_events() -> None:
    """One that max_active_runs held back on an earlier pass."""
    waiting = Pending("k1", (got(1, A, "k1"), got(2, B, "k1")))
    assert plan_partitions(consumer(A & B, pending=[waiting])) == PartitionPlan(
        "consumer", "h1", (), (PartitionRun("k1", 2, None),)
    )


def test_nothing_queued_and_nothing_complete_is_nothing_to_do() -> None:
    assert plan_partitions(consumer()) is None
    waiting = Pending("k1", (got(1, A, "k1"),))
    assert plan_partitions(consumer(A & B, pending=[waiting])) is None
    assert plan_partitions(consumer(pending=[waiting], active_runs=16)) is None


# --- which mapper -------------------------------------------------------------------------


def test_an_assets_mapper_from_its_config_and_the_default_for_the_others() -> None:
    dag = consumer(A | B, queued=[event(1, A, WEDNESDAY), event(2, B, WEDNESDAY)])
    by_name = plan(consumer(A | B, queued=dag.queued, by_name={"a": StartOfDayMapper()}))
    assert by_name.assignments == (Assignment(1, (DAY,)), Assignment(2, (WEDNESDAY,)))
    by_uri = plan(consumer(A | B, queued=dag.queued, by_uri={"s3://lake/b": StartOfHourMapper()}))
    assert by_uri.assignments == (Assignment(1, (WEDNESDAY,)), Assignment(2, ("2024-03-13T10",)))


def test_a_name_entry_wins_over_a_uri_entry() -> None:
    dag = consumer(
        queued=[event(1, A, WEDNESDAY)],
        by_name={"a": StartOfDayMapper()},
        by_uri={"s3://lake/a": StartOfHourMapper()},
    )
    assert plan(dag).assignments == (Assignment(1, (DAY,)),)


def test_the_sdks_partition_mapper_config_reaches_the_planner() -> None:
    timetable = PartitionedAssetTimetable(
        assets=A | B,
        partition_mapper_config={A: StartOfDayMapper()},
        default_partition_mapper=StartOfHourMapper(),
    )
    dag = PartitionedDag(
        dag_id="consumer",
        content_hash="h1",
        condition=condition_message(timetable.asset_condition),
        mappers=asset_mappers(timetable.partitioning()),
        queued=(event(1, A, WEDNESDAY), event(2, B, WEDNESDAY)),
        pending=(),
        active_runs=0,
        max_active_runs=16,
    )
    result = plan(dag)
    assert result.assignments == (Assignment(1, (DAY,)), Assignment(2, ("2024-03-13T10",)))
    assert result.runs == (
        PartitionRun(DAY, 1, utc(2024, 3, 13)),
        PartitionRun("2024-03-13T10", 1, utc(2024, 3, 13, 10)),
    )


def test_start_of_hour_aligns_the_keys_of_two_assets() -> None:
    dag = consumer(
        A & B,
        queued=[
            event(1, A, "2024-03-13T10:05:00"),
            event(2, B, "2024-03-13T11:00:00"),
            event(3, B, "2024-03-13T10:55:59"),
        ],
        default=StartOfHourMapper(),
    )
    result = plan(dag)
    assert result.assignments == (
        Assignment(1, ("2024-03-13T10",)),
        Assignment(2, ("2024-03-13T11",)),
        Assignment(3, ("2024-03-13T10",)),
    )
    assert result.runs == (PartitionRun("2024-03-13T10", 2, utc(2024, 3, 13, 10)),)


# --- rollups ------------------------------------------------------------------------------


def test_a_day_rollup_waits_for_all_24_hourly_keys() -> None:
    all_but_one = [event(i, A, key) for i, key in enumerate(HOURS[:-1], start=1)]
    waiting = plan(consumer(queued=all_but_one, default=hourly_rollup()))
    assert waiting.assignments == tuple(Assignment(i, (DAY,)) for i in range(1, 24))
    assert waiting.runs == ()
    complete = plan(
        consumer(queued=[*all_but_one, event(24, A, HOURS[-1])], default=hourly_rollup())
    )
    assert complete.runs == (PartitionRun(DAY, 24, utc(2024, 3, 13)),)


def test_a_day_rollup_completes_from_a_pending_partition_and_the_last_hour() -> None:
    received = tuple(got(i, A, key) for i, key in enumerate(HOURS[:-1], start=1))
    dag = consumer(
        queued=[event(24, A, HOURS[-1])], pending=[Pending(DAY, received)], default=hourly_rollup()
    )
    assert plan(dag) == PartitionPlan(
        "consumer", "h1", (Assignment(24, (DAY,)),), (PartitionRun(DAY, 24, utc(2024, 3, 13)),)
    )


def test_a_repeated_or_off_the_hour_key_is_not_another_member() -> None:
    keys = [*HOURS[:-1], HOURS[0], f"{DAY}T23:30:00"]  # 23:30 maps to the day, is no member
    result = plan(
        consumer(queued=[event(i, A, k) for i, k in enumerate(keys, 1)], default=hourly_rollup())
    )
    assert [a.keys for a in result.assignments] == [(DAY,)] * 25
    assert result.runs == ()


def test_minimum_count_fires_before_the_window_is_full() -> None:
    mapper = hourly_rollup(wait_policy=MinimumCount(3))
    two = [event(1, A, HOURS[5]), event(2, A, HOURS[9])]
    assert plan(consumer(queued=two, default=mapper)).runs == ()
    three = [*two, event(3, A, HOURS[0])]
    assert plan(consumer(queued=three, default=mapper)).runs == (
        PartitionRun(DAY, 3, utc(2024, 3, 13)),
    )


def test_a_negative_minimum_count_fires_on_all_but_that_many() -> None:
    mapper = hourly_rollup(wait_policy=MinimumCount(-2))
    events = [event(i, A, key) for i, key in enumerate(HOURS[:21], start=1)]
    assert plan(consumer(queued=events, default=mapper)).runs == ()
    events.append(event(22, A, HOURS[21]))
    assert plan(consumer(queued=events, default=mapper)).runs == (
        PartitionRun(DAY, 22, utc(2024, 3, 13)),
    )


def test_a_minimum_count_larger_than_the_window_never_fires() -> None:
    mapper = hourly_rollup(wait_policy=MinimumCount(25))
    events = [event(i, A, key) for i, key in enumerate(HOURS, start=1)]
    assert plan(consumer(queued=events, default=mapper)).runs == ()


def test_a_segment_rollup_waits_for_every_region() -> None:
    mapper = RollupMapper(
        upstream_mapper=FixedKeyMapper("global"), window=SegmentWindow(["us", "eu", "apac"])
    )
    two = [event(1, A, "us"), event(2, A, "eu"), event(3, A, "latam")]
    waiting = plan(consumer(queued=two, default=mapper))
    assert waiting.assignments == tuple(Assignment(i, ("global",)) for i in (1, 2, 3))
    assert waiting.runs == ()
    complete = plan(consumer(queued=[*two, event(4, A, "apac")], default=mapper))
    assert complete.runs == (PartitionRun("global", 4, None),)


def test_a_rollup_for_one_asset_and_identity_for_the_other() -> None:
    dag = consumer(
        A & B,
        queued=[
            *(event(i, A, key) for i, key in enumerate(HOURS, start=1)),
            event(25, B, DAY),
        ],
        by_name={"a": hourly_rollup()},
    )
    result = plan(dag)
    assert result.assignments[-1] == Assignment(25, (DAY,))
    assert result.runs == (PartitionRun(DAY, 25, utc(2024, 3, 13)),)


class _BrokenWindow(RollupMapper):
    def to_upstream(self, downstream_key: str) -> frozenset[str]:
        raise RuntimeError("window exploded")


def test_a_mapper_that_fails_to_judge_a_partition_leaves_it_waiting() -> None:
    broken = _BrokenWindow(upstream_mapper=IdentityMapper(), window=SegmentWindow(["x"]))
    dag = consumer(A | B, queued=[event(1, A, "x")], by_name={"a": broken})
    assert plan(dag).runs == ()
    assert partition_complete(dag, "x", [got(1, A, "x"), got(2, B, "x")])


# --- fan-out and max_active_runs ------------------------------------------------------------


def weekly_fan_out(**limits: Any) -> FanOutMapper:
    return FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow(), **limits)


def test_a_weekly_fan_out_makes_a_run_per_day_as_max_active_runs_allows() -> None:
    dag = consumer(
        queued=[event(1, A, WEDNESDAY)], default=weekly_fan_out(), active_runs=1, max_active_runs=3
    )
    result = plan(dag)
    assert result.assignments == (Assignment(1, tuple(WEEK)),)
    assert result.runs == (
        PartitionRun("2024-03-11", 1, utc(2024, 3, 11)),
        PartitionRun("2024-03-12", 1, utc(2024, 3, 12)),
    )


def test_the_held_back_partitions_run_oldest_first_on_later_passes() -> None:
    pending = [Pending(day, (got(1, A, WEDNESDAY),)) for day in WEEK[2:]]
    dag = consumer(pending=pending, default=weekly_fan_out(), active_runs=2, max_active_runs=3)
    assert plan(dag).runs == (PartitionRun("2024-03-13", 1, utc(2024, 3, 13)),)
    roomy = consumer(pending=pending, default=weekly_fan_out(), max_active_runs=16)
    assert [r.key for r in plan(roomy).runs] == WEEK[2:]


def test_pending_partitions_run_before_those_of_new_events() -> None:
    dag = consumer(
        queued=[event(2, A, "new")],
        pending=[Pending("old", (got(1, A, "old"),))],
        max_active_runs=1,
    )
    assert plan(dag).runs == (PartitionRun("old", 1, None),)


@pytest.mark.parametrize("active_runs", [3, 5])
def test_with_no_room_the_events_are_still_assigned(active_runs: int) -> None:
    dag = consumer(
        queued=[event(1, A, WEDNESDAY)],
        default=weekly_fan_out(),
        active_runs=active_runs,
        max_active_runs=3,
    )
    assert plan(dag) == PartitionPlan("consumer", "h1", (Assignment(1, tuple(WEEK)),), ())


def test_a_fan_out_above_the_schedulers_cap_is_rejected() -> None:
    result = plan(consumer(queued=[event(1, A, WEDNESDAY)], default=weekly_fan_out()), cap=6)
    assert result.assignments == (
        Assignment(
            1,
            (),
            rejection=(
                f"partition fan-out exceeded: asset 'a' partition key {WEDNESDAY!r}: "
                f"partition key {WEDNESDAY!r} maps to 7 downstream keys, more than cap=6; "
                "no Dag run is queued for it"
            ),
        ),
    )
    assert result.runs == ()


def test_a_fan_out_above_the_mappers_max_downstream_keys_is_rejected() -> None:
    mapper = weekly_fan_out(max_downstream_keys=3)
    (rejected,) = plan(consumer(queued=[event(1, A, WEDNESDAY)], default=mapper)).assignments
    assert rejected.keys == ()
    assert rejected.rejection.startswith("partition fan-out exceeded: asset 'a' partition key ")
    assert rejected.rejection.endswith(
        "maps to 7 downstream keys, more than max_downstream_keys=3; no Dag run is queued for it"
    )


def test_the_mappers_max_downstream_keys_overrides_the_schedulers_cap() -> None:
    mapper = weekly_fan_out(max_downstream_keys=7)
    result = plan(consumer(queued=[event(1, A, WEDNESDAY)], default=mapper), cap=2)
    assert result.assignments == (Assignment(1, tuple(WEEK)),)
    assert len(result.runs) == 7


# --- refusals -----------------------------------------------------------------------------


def test_a_key_the_mapper_refuses_is_rejected_with_the_reason() -> None:
    dag = consumer(
        queued=[event(1, A, "latam"), event(2, A, "us")], default=AllowedKeyMapper(["us", "eu"])
    )
    result = plan(dag)
    assert result.assignments == (
        Assignment(
            1,
            (),
            rejection=(
                "failed to map partition_key: asset 'a' partition key 'latam' does not fit DAG "
                "'consumer''s partition mapper AllowedKeyMapper(('us', 'eu')): "
                "ValueError: Key 'latam' not in allowed keys ['us', 'eu']"
            ),
        ),
        Assignment(2, ("us",)),
    )
    assert result.runs == (PartitionRun("us", 1, None),)


def test_a_key_that_does_not_parse_is_rejected() -> None:
    result = assign(consumer(default=StartOfDayMapper()), event(1, A, "yesterday"), cap=10)
    assert result.keys == ()
    assert result.rejection == (
        "failed to map partition_key: asset 'a' partition key 'yesterday' does not fit DAG "
        "'consumer''s partition mapper StartOfDayMapper(timezone='UTC', "
        "input_format='%Y-%m-%dT%H:%M:%S', output_format='%Y-%m-%d'): "
        "ValueError: time data 'yesterday' does not match format '%Y-%m-%dT%H:%M:%S'"
    )


class _Nowhere(PartitionMapper):
    def to_downstream(self, key: str) -> list[str]:
        return []


def test_a_key_that_maps_to_no_partition_is_rejected() -> None:
    assert assign(consumer(default=_Nowhere()), event(7, B, "k"), cap=10) == Assignment(
        7, (), rejection="asset 'b' partition key 'k' maps to no partition of the DAG"
    )


# --- partition dates ----------------------------------------------------------------------


def test_identity_carries_the_producers_partition_date() -> None:
    produced = utc(2024, 3, 12, 6)
    result = plan(consumer(queued=[event(1, A, "k", produced)]))
    assert result.assignments == (Assignment(1, ("k",), carried_date=produced),)
    assert result.runs == (PartitionRun("k", 1, produced),)


def test_identity_events_agreeing_or_silent_keep_the_carried_date() -> None:
    produced = utc(2024, 3, 12, 6)
    result = plan(
        consumer(A & B, queued=[event(1, A, "k"), event(2, B, "k", produced), event(3, A, "k")])
    )
    assert result.runs == (PartitionRun("k", 3, produced),)
    agreeing = plan(
        consumer(A & B, queued=[event(1, A, "k", produced), event(2, B, "k", produced)])
    )
    assert agreeing.runs == (PartitionRun("k", 2, produced),)


def test_conflicting_carried_dates_give_the_run_none() -> None:
    result = plan(
        consumer(
            A & B,
            queued=[event(1, A, "k", utc(2024, 3, 12)), event(2, B, "k", utc(2024, 3, 13))],
        )
    )
    assert result.assignments == (
        Assignment(1, ("k",), carried_date=utc(2024, 3, 12)),
        Assignment(2, ("k",), carried_date=utc(2024, 3, 13)),
    )
    assert result.runs == (PartitionRun("k", 2, None),)


def test_a_pending_partitions_carried_date_meets_the_new_events() -> None:
    waiting = Pending("k", (got(1, A, "k"),), carried_date=utc(2024, 3, 12))
    same = plan(consumer(A & B, queued=[event(2, B, "k", utc(2024, 3, 12))], pending=[waiting]))
    assert same.runs == (PartitionRun("k", 2, utc(2024, 3, 12)),)
    silent = plan(consumer(A & B, queued=[event(2, B, "k")], pending=[waiting]))
    assert silent.runs == (PartitionRun("k", 2, utc(2024, 3, 12)),)
    other = plan(consumer(A & B, queued=[event(2, B, "k", utc(2024, 3, 1))], pending=[waiting]))
    assert other.runs == (PartitionRun("k", 2, None),)


def test_a_temporal_mapper_derives_the_date_from_the_key_not_the_producer() -> None:
    result = plan(
        consumer(queued=[event(1, A, WEDNESDAY, utc(2020, 1, 1))], default=StartOfDayMapper())
    )
    assert result.assignments == (Assignment(1, (DAY,)),)
    assert result.runs == (PartitionRun(DAY, 1, utc(2024, 3, 13)),)


def test_temporal_mappers_that_disagree_on_the_date_give_none() -> None:
    """The same key, read in two zones: two instants."""
    dag = consumer(
        A & B,
        queued=[event(1, A, "2024-03-13T10:00:00"), event(2, B, "2024-03-13T10:00:00")],
        by_name={"a": StartOfHourMapper(), "b": StartOfHourMapper(timezone="Asia/Taipei")},
    )
    assert plan(dag).runs == (PartitionRun("2024-03-13T10", 2, None),)


def test_temporal_mappers_that_agree_on_the_instant_give_it() -> None:
    dag = consumer(
        A & B,
        queued=[event(1, A, "2024-03-13T10:00:00"), event(2, B, "2024-03-13T10:00:00")],
        by_name={"a": StartOfHourMapper(), "b": StartOfHourMapper(timezone="Etc/UTC")},
    )
    assert plan(dag).runs == (PartitionRun("2024-03-13T10", 2, utc(2024, 3, 13, 10)),)


def test_a_temporal_anchor_takes_precedence_over_the_carried_date() -> None:
    dag = consumer(
        A & B,
        queued=[event(1, A, DAY, utc(2020, 1, 1)), event(2, B, "2024-03-13T05:00:00")],
        by_name={"b": StartOfDayMapper()},
    )
    result = plan(dag)
    assert result.assignments == (
        Assignment(1, (DAY,), carried_date=utc(2020, 1, 1)),
        Assignment(2, (DAY,)),
    )
    assert result.runs == (PartitionRun(DAY, 2, utc(2024, 3, 13)),)


class _CarryFails(IdentityMapper):
    def carry_partition_date(self, source_partition_date: datetime | None) -> datetime | None:
        raise RuntimeError("no")


def test_a_mapper_failing_to_carry_the_date_carries_none() -> None:
    assert assign(consumer(default=_CarryFails()), event(1, A, "k", T0), cap=10) == Assignment(
        1, ("k",)
    )


# --- partition_complete -------------------------------------------------------------------


def test_partition_complete_judges_only_what_was_received() -> None:
    dag = consumer((A & B) | Asset("c", "s3://lake/c"), default=hourly_rollup())
    assert not partition_complete(dag, DAY, [])
    assert not partition_complete(dag, DAY, [got(i, A, key) for i, key in enumerate(HOURS)])
    assert partition_complete(
        dag,
        DAY,
        [
            *(got(i, A, key) for i, key in enumerate(HOURS)),
            *(got(i, B, k) for i, k in enumerate(HOURS)),
        ],
    )
    assert partition_complete(
        dag, DAY, [got(i, Asset("c", "s3://lake/c"), k) for i, k in enumerate(HOURS)]
    )


# --- from and to the contract -------------------------------------------------------------


def _definition(dag: DAG) -> dag_pb2.DagDefinition:
    return dag_definition(dag, fileloc="/dags/consumer.py", relative_fileloc="consumer.py")


def _consumer_definition(
    max_active_runs: int = 2, default: PartitionMapper | None = None
) -> dag_pb2.DagDefinition:
    with DAG(
        "consumer",
        schedule=PartitionedAssetTimetable(
            assets=A & B,
            partition_mapper_config={A: StartOfHourMapper()},
            default_partition_mapper=weekly_fan_out() if default is None else default,
        ),
        max_active_runs=max_active_runs,
    ) as dag:
        EmptyOperator(task_id="load")
    return _definition(dag)


def _schedulable(definition: dag_pb2.DagDefinition, **fields: Any) -> scheduler_pb2.SchedulableDag:
    return scheduler_pb2.SchedulableDag(
        dag=dag_pb2.Dag(dag_id=definition.dag_id, content_hash="v7", definition=definition),
        **fields,
    )


def _queued(
    event_id: int, asset: Asset, key: str, date: datetime | None = None
) -> asset_pb2.QueuedPartitionEvent:
    message = asset_pb2.QueuedPartitionEvent(
        asset_event_id=event_id,
        asset=dag_pb2.Asset(name=asset.name, uri=asset.uri),
        partition_key=key,
        created_at=stamp(T0 + timedelta(minutes=event_id)),
    )
    if date is not None:
        message.partition_date.CopyFrom(stamp(date))
    return message


def _received(event_id: int, asset: Asset, key: str) -> asset_pb2.ReceivedPartitionKey:
    return asset_pb2.ReceivedPartitionKey(
        asset_event_id=event_id,
        asset=dag_pb2.Asset(name=asset.name, uri=asset.uri),
        source_partition_key=key,
        created_at=stamp(T0 + timedelta(minutes=event_id)),
    )


def test_a_partitioned_consumer_from_the_contract() -> None:
    definition = _consumer_definition()
    item = _schedulable(
        definition,
        active_runs=1,
        queued_partition_events=[
            _queued(3, A, "2024-03-13T10:30:00", utc(2024, 3, 13, 10, 30)),
            _queued(4, B, WEDNESDAY),
        ],
        pending_partitions=[
            asset_pb2.PendingPartition(
                dag_id="consumer",
                partition_key="2024-03-13T10",
                created_at=stamp(T0),
                carried_partition_date=stamp(utc(2024, 3, 1)),
                received=[_received(1, B, "2024-03-10T00:00:00")],
            ),
            asset_pb2.PendingPartition(
                dag_id="consumer",
                partition_key="2024-03-12",
                received=[_received(2, B, "2024-03-12T00:00:00")],
            ),
        ],
    )
    dag = partitioned_dag(item)
    assert dag is not None
    assert (dag.dag_id, dag.content_hash, dag.active_runs, dag.max_active_runs) == (
        "consumer",
        "v7",
        1,
        2,
    )
    assert dag.condition == definition.schedule.assets
    assert dag.queued == (
        event(3, A, "2024-03-13T10:30:00", utc(2024, 3, 13, 10, 30)),
        event(4, B, WEDNESDAY),
    )
    assert dag.pending == (
        Pending("2024-03-13T10", (got(1, B, "2024-03-10T00:00:00"),), utc(2024, 3, 1)),
        Pending("2024-03-12", (got(2, B, "2024-03-12T00:00:00"),), None),
    )
    assert dag.mappers.mapper_for("a", "s3://lake/a") == StartOfHourMapper()
    assert dag.mappers.mapper_for("x", "s3://lake/a") == StartOfHourMapper()
    assert dag.mappers.mapper_for("b", "s3://lake/b") == weekly_fan_out()


def test_without_max_active_runs_a_consumer_gets_airflows_default() -> None:
    definition = _consumer_definition()
    definition.max_active_runs = 0
    dag = partitioned_dag(_schedulable(definition))
    assert dag is not None
    assert dag.max_active_runs == 16


def test_a_dag_that_is_not_a_partitioned_consumer_is_none() -> None:
    with DAG("assets", schedule=A & B) as on_assets:
        EmptyOperator(task_id="t")
    with DAG("hourly", schedule="@hourly", start_date=utc(2024, 1, 1)) as hourly:
        EmptyOperator(task_id="t")
    assert partitioned_dag(_schedulable(_definition(on_assets))) is None
    assert partitioned_dag(_schedulable(_definition(hourly))) is None


@pytest.mark.parametrize(
    ("mapper", "message"),
    [
        (dag_pb2.PartitionMapper(temporal=dag_pb2.TemporalMapper()), "names no period"),
        (
            dag_pb2.PartitionMapper(chain=dag_pb2.MapperList(mappers=[dag_pb2.PartitionMapper()])),
            "at least two mappers",
        ),
    ],
)
def test_malformed_mappers_are_a_value_error(mapper: dag_pb2.PartitionMapper, message: str) -> None:
    definition = _consumer_definition()
    definition.schedule.partitioning.default_mapper.CopyFrom(mapper)
    with pytest.raises(ValueError, match=message):
        partitioned_dag(_schedulable(definition))


def test_a_plan_from_the_contract_and_back() -> None:
    definition = _consumer_definition(max_active_runs=3, default=IdentityMapper())
    item = _schedulable(
        definition,
        active_runs=1,
        queued_partition_events=[
            _queued(5, A, "2024-03-13T00:10:00", utc(2024, 3, 12)),
            _queued(6, B, "2024-03-13T01", utc(2024, 3, 13, 1)),
        ],
        pending_partitions=[
            asset_pb2.PendingPartition(
                partition_key="2024-03-13T00",
                carried_partition_date=stamp(utc(2024, 3, 13)),
                received=[_received(1, B, "2024-03-13T00")],
            )
        ],
    )
    dag = partitioned_dag(item)
    assert dag is not None
    result = plan(dag)
    # A's hourly key meets B's pending partition; B's next hour waits for A's.
    assert result == PartitionPlan(
        "consumer",
        "v7",
        (
            Assignment(5, ("2024-03-13T00",)),
            Assignment(6, ("2024-03-13T01",), carried_date=utc(2024, 3, 13, 1)),
        ),
        (PartitionRun("2024-03-13T00", 2, utc(2024, 3, 13)),),
    )
    assert partition_plan_message(result) == scheduler_pb2.PartitionPlan(
        dag_id="consumer",
        expected_content_hash="v7",
        assignments=[
            scheduler_pb2.PartitionAssignment(asset_event_id=5, partition_keys=["2024-03-13T00"]),
            scheduler_pb2.PartitionAssignment(
                asset_event_id=6,
                partition_keys=["2024-03-13T01"],
                carried_partition_date=stamp(utc(2024, 3, 13, 1)),
            ),
        ],
        runs=[
            scheduler_pb2.PartitionRun(
                partition_key="2024-03-13T00",
                expected_received=2,
                received_event_ids=[1, 5],  # what the state service compares
                partition_date=stamp(utc(2024, 3, 13)),
            )
        ],
    )


def test_the_plan_message_carries_dates_and_rejections() -> None:
    message = partition_plan_message(
        PartitionPlan(
            "consumer",
            "v7",
            (
                Assignment(1, ("k",), carried_date=utc(2024, 3, 12, 6)),
                Assignment(2, (), rejection="no"),
            ),
            (PartitionRun("k", 3, utc(2024, 3, 12, 6)), PartitionRun("j", 1, None)),
        )
    )
    first, second = message.assignments
    assert first.carried_partition_date.ToDatetime(tzinfo=UTC) == utc(2024, 3, 12, 6)
    assert not second.HasField("carried_partition_date")
    assert (list(second.partition_keys), second.rejection) == ([], "no")
    dated, undated = message.runs
    assert (dated.partition_key, dated.expected_received) == ("k", 3)
    assert dated.partition_date.ToDatetime(tzinfo=UTC) == utc(2024, 3, 12, 6)
    assert undated.partition_key == "j"
    assert not undated.HasField("partition_date")


def test_a_consumer_scheduled_on_an_alias_runs_for_the_partitions_of_its_assets() -> None:
    from dataclasses import replace

    from tradewind import AssetAlias

    through = replace(event(1, A, "us"), aliases=frozenset({"regions"}))
    elsewhere = event(2, B, "eu")  # B is attached to no alias
    result = plan(consumer(AssetAlias("regions"), queued=[through, elsewhere]))
    assert [(r.key, r.event_ids) for r in result.runs] == [("us", (1,))]
    pending = Pending("eu", (replace(got(3, B, "eu"), aliases=frozenset({"regions"})),))
    later = plan(consumer(AssetAlias("regions"), pending=[pending]))
    assert [r.key for r in later.runs] == ["eu"]


def test_a_mapper_giving_a_key_that_is_not_one_is_a_rejection() -> None:
    assignment = plan(
        consumer(queued=[event(1, A, "x")], default=FixedKeyMapper("fine"))
    ).assignments
    assert assignment[0].keys == ("fine",)

    class Blank(IdentityMapper):
        def to_downstream(self, key: str) -> str:
            return "tab\there"

    (refused,) = plan(consumer(queued=[event(1, A, "x")], default=Blank())).assignments
    assert refused.keys == ()
    assert "which is not a partition key: partition_key must not contain control" in (
        refused.rejection
    )


def test_the_memo_decides_an_unchanged_incomplete_partition_once() -> None:
    from scheduler import partitions as planner
    from scheduler.partitions import IncompleteMemo

    memo = IncompleteMemo()
    calls: list[str] = []
    real = planner.partition_complete

    def counting(dag: PartitionedDag, key: str, items: Any) -> bool:
        calls.append(key)
        return real(dag, key, items)

    waiting = Pending(DAY, tuple(got(i, A, HOURS[i]) for i in range(23)))
    dag = consumer(pending=[waiting], default=hourly_rollup())
    planner.partition_complete = counting  # type: ignore[assignment]
    try:
        for _ in range(3):
            assert plan_partitions(dag, memo=memo) is None
            memo.end_pass()
        assert calls == [DAY]  # decided once, then remembered
        last = event(23, A, HOURS[23])
        complete = plan_partitions(
            consumer(queued=[last], pending=[waiting], default=hourly_rollup()), memo=memo
        )
        assert complete is not None
        assert [r.key for r in complete.runs] == [DAY]  # new events: decided again
    finally:
        planner.partition_complete = real
