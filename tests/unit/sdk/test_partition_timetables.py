"""Partitioned schedules as DAG files write them: CronPartitionTimetable,
PartitionedAssetTimetable and PartitionedAtRuntime, their mappers on the wire, and the
partition keys of runs, events and contexts."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core import timetables as rules
from core.partitions import (
    AllowedKeyMapper,
    ChainMapper,
    DayWindow,
    FanOutMapper,
    FixedKeyMapper,
    HourWindow,
    IdentityMapper,
    MinimumCount,
    MonthWindow,
    PartitionMapper,
    ProductMapper,
    QuarterWindow,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfHourMapper,
    StartOfMonthMapper,
    StartOfQuarterMapper,
    StartOfWeekMapper,
    StartOfYearMapper,
    WaitForAll,
    WaitPolicy,
    WeekWindow,
    Window,
    YearWindow,
)
from protos.dag.v1 import message_pb2 as dag_pb2
from scheduler.convert import advance_message
from scheduler.planning import DagSchedule, plan_schedule
from scheduler.timetables import load_plugin_object
from services.runtime.partitions import PluginNotLoaded, mapper_of, policy_of, window_of
from services.runtime.protoconv import stamp
from services.runtime.timetables import builtin_timetable, triggered_partition_date
from tradewind import (
    DAG,
    Asset,
    AssetAlias,
    CronPartitionTimetable,
    DataInterval,
    EmptyOperator,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
    TimeRestriction,
)
from tradewind.sdk.asset_events import OutletEventAccessor, OutletEventAccessors
from tradewind.sdk.assets import AssetRef, BaseAsset, condition_message
from tradewind.sdk.context import CONTEXT_KEYS, build_context
from tradewind.sdk.partition_mappers import (
    UnsupportedPartitionMapper,
    mapper_message,
    policy_message,
    window_message,
)
from tradewind.sdk.plugins import PLUGINS_FOLDER_VARIABLE
from tradewind.sdk.serialization import dag_definition

#: A user's mapper and window as Airflow's plugin example writes one.
PREFIX_PLUGIN = """
from datetime import timedelta

from tradewind import PartitionMapper, Window


class PrefixStripMapper(PartitionMapper):
    def __init__(self, prefix, *, separator="::", max_downstream_keys=None):
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.prefix = prefix
        self.separator = separator

    def to_downstream(self, key):
        full = self.prefix + self.separator
        return key[len(full):] if key.startswith(full) else key

    def serialize(self):
        data = {"prefix": self.prefix, "separator": self.separator}
        if self.max_downstream_keys is not None:
            data["max_downstream_keys"] = self.max_downstream_keys
        return data

    @classmethod
    def deserialize(cls, data):
        return cls(
            data["prefix"],
            separator=data.get("separator", "::"),
            max_downstream_keys=data.get("max_downstream_keys"),
        )


class TwoDays(Window):
    expected_decoded_type = __import__("datetime").datetime

    def to_upstream(self, period_start):
        return [period_start, period_start + timedelta(days=1)]
"""

A = Asset("a", "s3://lake/a")
B = Asset("b", "s3://lake/b")
C = Asset("c", "s3://lake/c")
START = datetime(2024, 1, 1, tzinfo=UTC)
MARCH_13 = datetime(2024, 3, 13, tzinfo=UTC)
TAIPEI = ZoneInfo("Asia/Taipei")
BACKWARD = Window.Direction.BACKWARD
DEFAULT_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- mappers on the wire ------------------------------------------------------------------

BUILT_IN_MAPPERS: list[PartitionMapper] = [
    IdentityMapper(),
    IdentityMapper(max_downstream_keys=5),
    FixedKeyMapper("all"),
    FixedKeyMapper("all", max_downstream_keys=1),
    AllowedKeyMapper(["us", "eu", "apac"]),
    AllowedKeyMapper([]),
    StartOfHourMapper(),
    StartOfDayMapper(),
    StartOfWeekMapper(),
    StartOfMonthMapper(),
    StartOfQuarterMapper(),
    StartOfYearMapper(),
    StartOfHourMapper(timezone="Asia/Taipei", input_format="%Y%m%d%H%M", output_format="%Y%m%d%H"),
    StartOfDayMapper(timezone=TAIPEI, output_format="%d/%m/%Y", max_downstream_keys=2),
    StartOfWeekMapper(timezone="America/New_York", output_format="%Y-%m-%d"),
    StartOfQuarterMapper(output_format="Q{quarter}-%Y"),
    StartOfYearMapper(timezone=UTC, input_format="%Y-%m-%d"),
    ChainMapper(StartOfHourMapper(), StartOfDayMapper(input_format="%Y-%m-%dT%H")),
    ChainMapper(IdentityMapper(), AllowedKeyMapper(["x"]), FixedKeyMapper("y")),
    ProductMapper(IdentityMapper(), StartOfDayMapper()),
    ProductMapper(FixedKeyMapper("r"), IdentityMapper(), StartOfHourMapper(), delimiter=":"),
    FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow()),
    FanOutMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow(direction=BACKWARD)),
    FanOutMapper(upstream_mapper=StartOfMonthMapper(), window=MonthWindow()),
    FanOutMapper(upstream_mapper=StartOfQuarterMapper(), window=QuarterWindow()),
    FanOutMapper(
        upstream_mapper=StartOfYearMapper(),
        window=YearWindow(direction=BACKWARD),
        downstream_mapper=StartOfMonthMapper(output_format="%Y/%m"),
        max_downstream_keys=12,
    ),
    FanOutMapper(
        upstream_mapper=FixedKeyMapper("all"),
        window=SegmentWindow(["us", "eu"]),
        downstream_mapper=IdentityMapper(),
    ),
    RollupMapper(upstream_mapper=StartOfHourMapper(), window=HourWindow()),
    RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow()),
    RollupMapper(
        upstream_mapper=StartOfWeekMapper(), window=WeekWindow(), wait_policy=MinimumCount(5)
    ),
    RollupMapper(
        upstream_mapper=StartOfMonthMapper(),
        window=MonthWindow(direction=BACKWARD),
        wait_policy=MinimumCount(-2),
    ),
    RollupMapper(upstream_mapper=StartOfQuarterMapper(), window=QuarterWindow()),
    RollupMapper(
        upstream_mapper=StartOfYearMapper(),
        window=YearWindow(),
        wait_policy=WaitForAll(),
        max_downstream_keys=3,
    ),
    RollupMapper(
        upstream_mapper=FixedKeyMapper("global"), window=SegmentWindow(["us", "eu", "apac"])
    ),
]


@pytest.mark.parametrize("mapper", BUILT_IN_MAPPERS, ids=repr)
def test_every_built_in_mapper_survives_the_wire(mapper: PartitionMapper) -> None:
    message = mapper_message(mapper)
    rebuilt = mapper_of(dag_pb2.PartitionMapper.FromString(message.SerializeToString()))
    assert type(rebuilt) is type(mapper)
    assert rebuilt == mapper
    assert rebuilt.max_downstream_keys == mapper.max_downstream_keys
    assert mapper_message(rebuilt) == message


def test_the_round_trip_tells_mappers_apart() -> None:
    """Equality is by configuration: a different zone or format is another mapper."""
    taipei = mapper_of(mapper_message(StartOfDayMapper(timezone="Asia/Taipei")))
    assert taipei != StartOfDayMapper()
    assert taipei.timezone == "Asia/Taipei"  # type: ignore[attr-defined]
    assert mapper_of(mapper_message(StartOfDayMapper())) != StartOfHourMapper()
    assert mapper_of(mapper_message(AllowedKeyMapper(["us"]))) != AllowedKeyMapper(["eu"])
    rollup = mapper_of(
        mapper_message(
            RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow(direction=BACKWARD))
        )
    )
    assert rollup != RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())


def test_the_messages_name_periods_and_limits() -> None:
    assert mapper_message(StartOfQuarterMapper(max_downstream_keys=4)) == dag_pb2.PartitionMapper(
        temporal=dag_pb2.TemporalMapper(
            period=dag_pb2.PARTITION_PERIOD_QUARTER,
            timezone="UTC",
            input_format="%Y-%m-%dT%H:%M:%S",
            output_format="%Y-Q{quarter}",
        ),
        max_downstream_keys=4,
    )
    assert mapper_message(IdentityMapper()) == dag_pb2.PartitionMapper(
        identity=dag_pb2.IdentityMapper()
    )
    assert mapper_message(
        RollupMapper(
            upstream_mapper=FixedKeyMapper("g"),
            window=SegmentWindow(["us", "eu", "us"]),
            wait_policy=MinimumCount(2),
        )
    ) == dag_pb2.PartitionMapper(
        rollup=dag_pb2.RollupMapper(
            upstream_mapper=dag_pb2.PartitionMapper(
                fixed_key=dag_pb2.FixedKeyMapper(downstream_key="g")
            ),
            window=dag_pb2.PartitionWindow(segment=dag_pb2.SegmentWindow(segments=["eu", "us"])),
            wait_policy=dag_pb2.PartitionWaitPolicy(minimum_count=2),
        )
    )


def test_an_empty_mapper_message_is_identity() -> None:
    assert mapper_of(dag_pb2.PartitionMapper()) == IdentityMapper()
    assert mapper_of(dag_pb2.PartitionMapper(max_downstream_keys=3)) == IdentityMapper(
        max_downstream_keys=3
    )


BUILT_IN_WINDOWS: list[Window] = [
    HourWindow(),
    DayWindow(),
    WeekWindow(),
    MonthWindow(),
    QuarterWindow(),
    YearWindow(),
    HourWindow(direction=BACKWARD),
    DayWindow(direction="backward"),
    WeekWindow(direction=BACKWARD),
    MonthWindow(direction=BACKWARD),
    QuarterWindow(direction=BACKWARD),
    YearWindow(direction=BACKWARD),
    SegmentWindow(["us", "eu", "apac"]),
]


@pytest.mark.parametrize("window", BUILT_IN_WINDOWS, ids=repr)
def test_every_built_in_window_survives_the_wire(window: Window) -> None:
    rebuilt = window_of(window_message(window))
    assert type(rebuilt) is type(window)
    assert rebuilt == window
    assert rebuilt.direction is window.direction


@pytest.mark.parametrize(
    "policy", [WaitForAll(), MinimumCount(1), MinimumCount(7), MinimumCount(-3)]
)
def test_every_built_in_wait_policy_survives_the_wire(policy: WaitPolicy) -> None:
    assert policy_of(policy_message(policy)) == policy


def test_an_unset_wait_policy_is_wait_for_all_and_an_unset_window_is_refused() -> None:
    assert policy_of(dag_pb2.PartitionWaitPolicy()) == WaitForAll()
    with pytest.raises(ValueError, match="names no period"):
        window_of(dag_pb2.PartitionWindow())


class RegionMapper(PartitionMapper):
    def to_downstream(self, key: str) -> str:
        return key.split("-")[0]


class LoudIdentity(IdentityMapper):
    pass


class EveryOther(Window):
    def to_upstream(self, decoded_downstream: Any) -> Iterable[Any]:
        return [decoded_downstream]


class Never(WaitPolicy):
    def is_satisfied(self, matched: int, expected: int) -> bool:
        return False

    def is_unreachable(self, expected: int) -> bool:
        return True


@pytest.mark.parametrize(
    ("mapper", "message"),
    [
        (RegionMapper(), "partition mapper RegionMapper is defined in .*, but no plugins folder"),
        (LoudIdentity(), "partition mapper LoudIdentity is defined in .*, but no plugins"),
        (ChainMapper(IdentityMapper(), RegionMapper()), "partition mapper RegionMapper is"),
        (
            RollupMapper(upstream_mapper=IdentityMapper(), window=EveryOther()),
            "partition window EveryOther is defined in .*, but no plugins folder",
        ),
        (
            RollupMapper(
                upstream_mapper=IdentityMapper(),
                window=SegmentWindow(["x"]),
                wait_policy=Never(),
            ),
            "Never is not a built-in partition wait policy",
        ),
    ],
)
def test_a_users_mapper_outside_the_plugins_folder_is_refused_when_serialised(
    mapper: PartitionMapper, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PLUGINS_FOLDER_VARIABLE, raising=False)
    for timetable in (
        PartitionedAssetTimetable(assets=A, default_partition_mapper=mapper),
        PartitionedAssetTimetable(assets=A, partition_mapper_config={A: mapper}),
    ):
        with pytest.raises(UnsupportedPartitionMapper, match=message):
            timetable.partitioning()
    assert issubclass(UnsupportedPartitionMapper, ValueError)  # a DAG definition error


def test_a_users_mapper_in_the_plugins_folder_travels_as_its_class_and_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tw_prefix_mappers.py").write_text(PREFIX_PLUGIN)
    monkeypatch.setenv(PLUGINS_FOLDER_VARIABLE, str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tw_prefix_mappers")
    mapper = module.PrefixStripMapper("eu", max_downstream_keys=3)
    window = module.TwoDays()
    message = mapper_message(mapper)
    assert message.WhichOneof("kind") == "custom"
    assert message.custom.class_path == "tw_prefix_mappers.PrefixStripMapper"
    assert json.loads(message.custom.serialized_json) == {
        "prefix": "eu",
        "separator": "::",
        "max_downstream_keys": 3,
    }
    assert window_message(window).custom.class_path == "tw_prefix_mappers.TwoDays"

    loaded = mapper_of(
        message,
        lambda plugin: load_plugin_object(
            plugin.class_path, plugin.serialized_json, tmp_path, "partition mapper"
        ),
    )
    assert type(loaded) is module.PrefixStripMapper
    assert loaded.to_downstream("eu::daily-sales") == "daily-sales"
    assert loaded.max_downstream_keys == 3
    with pytest.raises(PluginNotLoaded, match="only the scheduler loads"):
        mapper_of(message)  # the state service's way: no loader
    rollup = mapper_message(RollupMapper(upstream_mapper=StartOfDayMapper(), window=window))
    rebuilt = mapper_of(
        rollup,
        lambda plugin: load_plugin_object(
            plugin.class_path, plugin.serialized_json, tmp_path, "partition window"
        ),
    )
    assert isinstance(rebuilt, RollupMapper)
    assert type(rebuilt.window) is module.TwoDays


# --- PartitionedAssetTimetable ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"assets": 5}, "an asset schedule is an asset condition or a list of assets, not int"),
        (
            {"assets": A, "partition_mapper_config": {"a": IdentityMapper()}},
            r"partition_mapper_config keys must be assets, Asset\.ref\(\.\.\.\) or conditions"
            r" of them \(a partitioned asset alias is not supported\), got 'a'",
        ),
        (
            {"assets": A, "partition_mapper_config": {AssetAlias("x"): IdentityMapper()}},
            "partition_mapper_config keys must be assets",
        ),
        (
            {"assets": A, "partition_mapper_config": {A: StartOfDayMapper}},
            r"the partition mapper of Asset\(name='a'.* is not a PartitionMapper",
        ),
        (
            {"assets": A, "default_partition_mapper": "identity"},
            "default_partition_mapper must be a PartitionMapper",
        ),
    ],
)
def test_bad_arguments_are_a_type_error(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        PartitionedAssetTimetable(**arguments)


def test_a_condition_as_config_key_gives_each_of_its_assets_the_mapper() -> None:
    hourly = StartOfHourMapper()
    timetable = PartitionedAssetTimetable(
        assets=A & B & C,
        partition_mapper_config={A | Asset.ref(name="c"): hourly},
        default_partition_mapper=StartOfDayMapper(),
    )
    assert timetable.get_partition_mapper(name="a") is hourly
    assert timetable.get_partition_mapper(name="c") is hourly
    assert timetable.get_partition_mapper(name="b") == StartOfDayMapper()
    entries = [(e.asset_name, e.asset_uri) for e in timetable.partitioning().asset_mappers]
    assert entries == [("a", "s3://lake/a"), ("c", "")]


def test_the_default_mapper_is_identity() -> None:
    timetable = PartitionedAssetTimetable(assets=[A, B])
    assert timetable.default_partition_mapper == IdentityMapper()
    assert timetable.partition_mapper_config == {}
    assert timetable.get_partition_mapper(name="a", uri="s3://lake/a") == IdentityMapper()
    assert timetable.partitioning() == dag_pb2.AssetPartitioning(
        default_mapper=dag_pb2.PartitionMapper(identity=dag_pb2.IdentityMapper())
    )
    assert (timetable.partitioned, timetable.partitioned_at_runtime) == (True, False)
    assert timetable.summary == timetable.description == "Partitioned Asset"


def test_get_partition_mapper_looks_up_the_name_then_the_uri_then_the_default() -> None:
    by_asset, by_name, by_uri, default = (
        StartOfHourMapper(),
        StartOfDayMapper(),
        StartOfWeekMapper(),
        StartOfMonthMapper(),
    )
    timetable = PartitionedAssetTimetable(
        assets=A & Asset.ref(name="b") & Asset.ref(uri="s3://lake/c"),
        partition_mapper_config={
            A: by_asset,
            Asset.ref(name="b"): by_name,
            Asset.ref(uri="s3://lake/c"): by_uri,
        },
        default_partition_mapper=default,
    )
    lookup = timetable.get_partition_mapper
    assert lookup(name="a") is by_asset
    assert lookup(uri="s3://lake/a") is by_asset
    assert lookup(name="a", uri="s3://lake/c") is by_asset
    assert lookup(name="b", uri="s3://lake/b") is by_name
    assert lookup(name="b", uri="s3://lake/c") is by_name
    assert lookup(name="c", uri="s3://lake/c") is by_uri
    assert lookup(name="renamed", uri="s3://lake/c") is by_uri
    assert lookup(uri="s3://lake/b") is default
    assert lookup(name="c") is default
    assert lookup() is default
    assert timetable.partitioning() == dag_pb2.AssetPartitioning(
        asset_mappers=[
            dag_pb2.AssetPartitionMapper(
                asset_name="a", asset_uri="s3://lake/a", mapper=mapper_message(by_asset)
            ),
            dag_pb2.AssetPartitionMapper(asset_name="b", mapper=mapper_message(by_name)),
            dag_pb2.AssetPartitionMapper(asset_uri="s3://lake/c", mapper=mapper_message(by_uri)),
        ],
        default_mapper=mapper_message(default),
    )


# --- DAGs written as Airflow's documentation writes them ----------------------------------


def definition_of(dag: DAG) -> dag_pb2.DagDefinition:
    return dag_definition(dag, fileloc="/dags/partitions.py", relative_fileloc="partitions.py")


def test_a_cron_partition_dag() -> None:
    with DAG(
        dag_id="hourly_partitions",
        schedule=CronPartitionTimetable("0 * * * *", timezone="UTC"),
        start_date=START,
    ) as dag:
        EmptyOperator(task_id="produce")
    schedule = definition_of(dag).schedule
    assert schedule.WhichOneof("kind") == "cron_partition"
    assert schedule.cron_partition == dag_pb2.CronPartition(
        expression="0 * * * *", run_offset=0, run_immediately=False, key_format=DEFAULT_KEY_FORMAT
    )
    assert (schedule.description, schedule.timezone) == ("0 * * * *", "UTC")
    assert not schedule.HasField("partitioning")
    assert not schedule.HasField("assets")


def test_a_cron_partition_dag_with_every_option() -> None:
    timetable = CronPartitionTimetable(
        "@daily",
        timezone="Asia/Taipei",
        run_offset=-1,
        run_immediately=timedelta(hours=2),
        key_format="%Y%m%d",
    )
    with DAG("daily_partitions", schedule=timetable, start_date=START) as dag:
        EmptyOperator(task_id="produce")
    schedule = definition_of(dag).schedule
    expected = dag_pb2.CronPartition(expression="0 0 * * *", run_offset=-1, key_format="%Y%m%d")
    expected.run_immediately_within.FromTimedelta(timedelta(hours=2))
    assert schedule.cron_partition == expected
    assert (schedule.description, schedule.timezone) == ("@daily", "Asia/Taipei")
    timetable_rules = builtin_timetable(schedule)
    assert isinstance(timetable_rules, rules.CronPartitions)
    assert asdict(timetable_rules) == {
        "expression": "0 0 * * *",
        "timezone": "Asia/Taipei",
        "interval": timedelta(0),
        "run_immediately": timedelta(hours=2),
        "run_offset": -1,
        "key_format": "%Y%m%d",
    }


def test_a_partitioned_asset_dag() -> None:
    with DAG(
        dag_id="consumer",
        schedule=PartitionedAssetTimetable(
            assets=A & B, default_partition_mapper=StartOfHourMapper()
        ),
    ) as dag:
        EmptyOperator(task_id="consume")
    schedule = definition_of(dag).schedule
    assert schedule.WhichOneof("kind") is None
    assert schedule.description == "Partitioned Asset"
    assert schedule.assets == condition_message(A & B)
    assert schedule.partitioning == dag_pb2.AssetPartitioning(
        default_mapper=dag_pb2.PartitionMapper(
            temporal=dag_pb2.TemporalMapper(
                period=dag_pb2.PARTITION_PERIOD_HOUR,
                timezone="UTC",
                input_format=DEFAULT_KEY_FORMAT,
                output_format="%Y-%m-%dT%H",
            )
        )
    )
    assert isinstance(builtin_timetable(schedule), rules.Manual)


def test_a_partitioned_asset_dag_with_asset_mappers() -> None:
    rollup = RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())
    with DAG(
        dag_id="daily_rollup",
        schedule=PartitionedAssetTimetable(
            assets=[A, B],
            partition_mapper_config={A: rollup, Asset.ref(uri="s3://lake/b"): StartOfDayMapper()},
        ),
    ) as dag:
        EmptyOperator(task_id="consume")
    partitioning = definition_of(dag).schedule.partitioning
    assert list(partitioning.asset_mappers) == [
        dag_pb2.AssetPartitionMapper(
            asset_name="a", asset_uri="s3://lake/a", mapper=mapper_message(rollup)
        ),
        dag_pb2.AssetPartitionMapper(
            asset_uri="s3://lake/b", mapper=mapper_message(StartOfDayMapper())
        ),
    ]
    assert partitioning.default_mapper == mapper_message(IdentityMapper())


def test_a_dag_partitioned_at_runtime() -> None:
    with DAG(dag_id="backfilled_by_hand", schedule=PartitionedAtRuntime()) as dag:
        EmptyOperator(task_id="produce")
    schedule = definition_of(dag).schedule
    assert schedule.WhichOneof("kind") == "partitioned_at_runtime"
    assert schedule.partitioned_at_runtime is True
    assert schedule.description == "PartitionedAtRuntime"  # its summary, as in Airflow
    assert not schedule.HasField("partitioning")
    assert isinstance(builtin_timetable(schedule), rules.Manual)
    timetable = PartitionedAtRuntime()
    assert timetable.partitioned is False  # as Airflow: its keys are not the timetable's
    assert timetable.partitioned_at_runtime is True
    assert timetable.can_be_scheduled is False
    assert repr(timetable) == "PartitionedAtRuntime()"


# --- CronPartitionTimetable's runs --------------------------------------------------------


def first_two(timetable: CronPartitionTimetable, earliest: datetime = MARCH_13) -> list[Any]:
    restriction = TimeRestriction(earliest, None, True)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first is not None
    second = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval, restriction=restriction
    )
    assert second is not None
    return [first, second]


def test_each_tick_is_a_run_for_its_own_partition() -> None:
    first, second = first_two(CronPartitionTimetable("0 * * * *", timezone="UTC"))
    assert first.run_after == MARCH_13
    assert first.data_interval == DataInterval(MARCH_13, MARCH_13)
    assert (first.partition_key, first.partition_date) == ("2024-03-13T00:00:00", MARCH_13)
    assert (second.partition_key, second.partition_date) == (
        "2024-03-13T01:00:00",
        utc(2024, 3, 13, 1),
    )


@pytest.mark.parametrize(
    ("run_offset", "keys", "dates"),
    [
        (
            1,
            ["2024-03-13T01:00:00", "2024-03-13T02:00:00"],
            [utc(2024, 3, 13, 1), utc(2024, 3, 13, 2)],
        ),
        (-1, ["2024-03-12T23:00:00", "2024-03-13T00:00:00"], [utc(2024, 3, 12, 23), MARCH_13]),
        (
            3,
            ["2024-03-13T03:00:00", "2024-03-13T04:00:00"],
            [utc(2024, 3, 13, 3), utc(2024, 3, 13, 4)],
        ),
    ],
)
def test_run_offset_moves_the_partition_by_ticks(
    run_offset: int, keys: list[str], dates: list[datetime]
) -> None:
    runs = first_two(CronPartitionTimetable("0 * * * *", timezone="UTC", run_offset=run_offset))
    assert [r.run_after for r in runs] == [MARCH_13, utc(2024, 3, 13, 1)]
    assert [r.partition_key for r in runs] == keys
    assert [r.partition_date for r in runs] == dates


def test_key_format_writes_the_key() -> None:
    runs = first_two(CronPartitionTimetable("@daily", timezone="UTC", key_format="%Y%m%d"))
    assert [r.partition_key for r in runs] == ["20240313", "20240314"]
    assert [r.partition_date for r in runs] == [MARCH_13, utc(2024, 3, 14)]


def test_in_another_zone_the_key_is_its_wall_clock() -> None:
    """Midnight in Taipei is 16:00 UTC the day before; the key says midnight."""
    runs = first_two(CronPartitionTimetable("0 0 * * *", timezone="Asia/Taipei"))
    assert [r.run_after for r in runs] == [utc(2024, 3, 13, 16), utc(2024, 3, 14, 16)]
    assert [r.partition_key for r in runs] == ["2024-03-14T00:00:00", "2024-03-15T00:00:00"]
    assert [r.partition_date for r in runs] == [utc(2024, 3, 13, 16), utc(2024, 3, 14, 16)]
    previous = first_two(CronPartitionTimetable("0 0 * * *", timezone=TAIPEI, run_offset=-1))
    assert [r.partition_key for r in previous] == ["2024-03-13T00:00:00", "2024-03-14T00:00:00"]


def test_resolve_partition_date_reads_the_key_back() -> None:
    hourly = CronPartitionTimetable("0 * * * *", timezone="UTC")
    assert hourly.resolve_partition_date(None) is None
    assert hourly.resolve_partition_date("2024-03-13T05:00:00") == utc(2024, 3, 13, 5)
    taipei = CronPartitionTimetable("0 0 * * *", timezone="Asia/Taipei")
    assert taipei.resolve_partition_date("2024-03-14T00:00:00") == utc(2024, 3, 13, 16)
    daily = CronPartitionTimetable("@daily", timezone="Asia/Taipei", key_format="%Y%m%d")
    assert daily.resolve_partition_date("20240314") == utc(2024, 3, 13, 16)
    with_offset = CronPartitionTimetable(
        "0 0 * * *", timezone="Asia/Taipei", key_format="%Y-%m-%d %H:%M%z"
    )
    assert with_offset.resolve_partition_date("2024-03-14 00:00+0100") == utc(2024, 3, 13, 23)


def test_a_key_that_does_not_fit_the_format_is_a_value_error() -> None:
    hourly = CronPartitionTimetable("0 * * * *", timezone="UTC")
    with pytest.raises(ValueError, match="does not match the timetable's key_format") as raised:
        hourly.resolve_partition_date("2024-03-13")
    assert str(raised.value).startswith(
        "partition key '2024-03-13' does not match the timetable's key_format '%Y-%m-%dT%H:%M:%S': "
    )


@pytest.mark.parametrize("run_offset", [1.0, timedelta(hours=1), "1", True])
def test_a_run_offset_other_than_an_int_is_a_value_error(run_offset: Any) -> None:
    with pytest.raises(ValueError, match=r"^Run offset other than integer not supported yet\.$"):
        CronPartitionTimetable("0 * * * *", timezone="UTC", run_offset=run_offset)


def test_no_run_offset_is_zero_and_the_key_format_must_be_set() -> None:
    timetable = CronPartitionTimetable("0 * * * *", timezone="UTC", run_offset=None)
    assert (timetable.run_offset, timetable.key_format) == (0, DEFAULT_KEY_FORMAT)
    assert timetable.partitioned is True
    assert repr(timetable) == (
        "CronPartitionTimetable('0 * * * *', timezone='UTC', run_offset=0,"
        " key_format='%Y-%m-%dT%H:%M:%S')"
    )
    with pytest.raises(ValueError, match="key_format must be a non-empty strftime format"):
        CronPartitionTimetable("0 * * * *", timezone="UTC", key_format="")


# --- a triggered run's partition date -----------------------------------------------------


def schedule_of(schedule: Any, **dag_arguments: Any) -> dag_pb2.Schedule:
    with DAG("d", schedule=schedule, **dag_arguments) as dag:
        EmptyOperator(task_id="t")
    return definition_of(dag).schedule


def test_a_cron_partition_dag_decodes_a_triggered_key() -> None:
    schedule = schedule_of(
        CronPartitionTimetable("0 0 * * *", timezone="Asia/Taipei"), start_date=START
    )
    assert triggered_partition_date(schedule, "2024-03-14T00:00:00") == utc(2024, 3, 13, 16)
    assert triggered_partition_date(schedule, "") is None
    with pytest.raises(ValueError, match="does not match the timetable's key_format"):
        triggered_partition_date(schedule, "tomorrow")


def test_a_partitioned_consumer_decodes_a_triggered_key_with_its_mappers() -> None:
    daily = schedule_of(
        PartitionedAssetTimetable(assets=A & B, default_partition_mapper=StartOfDayMapper())
    )
    assert triggered_partition_date(daily, "2024-03-13") == MARCH_13
    with pytest.raises(ValueError, match=r"^partition key 'x' is invalid for this DAG's partition"):
        triggered_partition_date(daily, "x")


def test_a_consumer_with_identity_mappers_gives_no_date() -> None:
    assert triggered_partition_date(schedule_of(PartitionedAssetTimetable(assets=A)), "us") is None


def test_a_consumer_whose_mappers_disagree_gives_no_date() -> None:
    schedule = schedule_of(
        PartitionedAssetTimetable(
            assets=A | B,
            partition_mapper_config={B: StartOfDayMapper(timezone="Asia/Taipei")},
            default_partition_mapper=StartOfDayMapper(),
        )
    )
    assert triggered_partition_date(schedule, "2024-03-13") is None


def test_a_consumer_finds_the_mappers_of_references_in_its_condition() -> None:
    ref: AssetRef = Asset.ref(name="a")
    condition: BaseAsset = ref | C
    schedule = schedule_of(
        PartitionedAssetTimetable(
            assets=condition, partition_mapper_config={ref: StartOfMonthMapper()}
        )
    )
    assert triggered_partition_date(schedule, "2024-03") == utc(2024, 3, 1)


def test_other_timetables_give_no_date() -> None:
    assert triggered_partition_date(schedule_of(PartitionedAtRuntime()), "2024-03-13") is None
    assert triggered_partition_date(schedule_of("@daily", start_date=START), "x") is None
    assert triggered_partition_date(schedule_of(None), "x") is None


# --- the scheduler's step of a cron partition DAG -----------------------------------------


def schedule_step(schedule: dag_pb2.Schedule, tick: datetime) -> Any:
    timetable = builtin_timetable(schedule)
    assert timetable is not None
    dag = DagSchedule(
        dag_id="d",
        content_hash="h",
        timetable=timetable,
        start_date=START,
        end_date=None,
        catchup=True,
        max_active_runs=16,
        active_runs=0,
        next_run=rules.DataInterval(tick, tick),
        latest_scheduled=None,
    )
    advance, wake = plan_schedule(dag, tick + timedelta(minutes=1))
    assert wake is None
    assert advance is not None
    return advance


def test_a_due_tick_advances_with_its_partition() -> None:
    schedule = schedule_of(CronPartitionTimetable("0 * * * *", timezone="UTC"), start_date=START)
    advance = schedule_step(schedule, utc(2024, 3, 13, 5))
    assert advance.run == rules.DataInterval(utc(2024, 3, 13, 5), utc(2024, 3, 13, 5))
    assert advance.partition == ("2024-03-13T05:00:00", utc(2024, 3, 13, 5))
    assert advance.next_run == rules.DataInterval(utc(2024, 3, 13, 6), utc(2024, 3, 13, 6))
    run = advance_message(advance).run
    assert run.partition_key == "2024-03-13T05:00:00"
    assert run.partition_date == stamp(utc(2024, 3, 13, 5))


def test_a_due_tick_with_an_offset_in_another_zone() -> None:
    schedule = schedule_of(
        CronPartitionTimetable("0 0 * * *", timezone="Asia/Taipei", run_offset=-1),
        start_date=START,
    )
    advance = schedule_step(schedule, utc(2024, 3, 13, 16))
    assert advance.partition == ("2024-03-13T00:00:00", utc(2024, 3, 12, 16))


def test_a_cron_trigger_tick_has_no_partition() -> None:
    advance = schedule_step(schedule_of("0 * * * *", start_date=START), utc(2024, 3, 13, 5))
    assert advance.partition is None
    run = advance_message(advance).run
    assert run.partition_key == ""
    assert not run.HasField("partition_date")


# --- outlet events' partitions ------------------------------------------------------------


def test_add_partitions_takes_a_key_or_a_list_and_keeps_each_once() -> None:
    accessor = OutletEventAccessor(A)
    accessor.add_partitions("us")
    accessor.add_partitions(["eu", "us", "apac"])
    accessor.add_partitions("eu")
    assert accessor.partition_keys == {"us", "eu", "apac"}
    assert repr(accessor) == (
        f"OutletEventAccessor(key={A!r}, extra={{}}, asset_alias_events=[], "
        "partition_keys=['apac', 'eu', 'us'])"
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("", "partition_key must not be empty or whitespace-only; got ''."),
        (["ok", "  "], "partition_key must not be empty or whitespace-only; got '  '."),
        ("x" * 251, "partition_key must be at most 250 characters; got 251."),
    ],
)
def test_a_blank_or_too_long_key_is_a_value_error(keys: str | list[str], message: str) -> None:
    accessor = OutletEventAccessor(A)
    with pytest.raises(ValueError, match=r"^partition_key must") as raised:
        accessor.add_partitions(keys)
    assert str(raised.value) == message
    assert accessor.partition_keys == set()


def test_a_key_of_250_characters_is_allowed() -> None:
    accessor = OutletEventAccessor(A)
    accessor.add_partitions("x" * 250)
    assert accessor.partition_keys == {"x" * 250}


def test_an_alias_takes_no_partitions() -> None:
    with pytest.raises(TypeError, match="not supported on asset alias outlet events"):
        OutletEventAccessor(AssetAlias("by_region")).add_partitions("us")


def test_the_payload_carries_the_partitions_of_each_asset() -> None:
    def unknown(ref: AssetRef) -> Asset:
        raise KeyError(ref)

    events = OutletEventAccessors(unknown)
    events[A].add_partitions(["us", "eu"])
    events[B].extra["rows"] = 3
    events[C].add_partitions("apac")
    events[C].extra["rows"] = 1
    assert events[Asset("untouched")].partition_keys == set()  # made, nothing recorded
    payload = events.outlet_events_payload()
    assert [(p.asset, p.extra, p.partition_keys) for p in payload] == [
        (A, {}, frozenset({"us", "eu"})),
        (B, {"rows": 3}, frozenset()),
        (C, {"rows": 1}, frozenset({"apac"})),
    ]
    assert all(p.source_alias_name == "" for p in payload)


# --- the context of a partitioned run -----------------------------------------------------


def test_the_context_holds_the_runs_partition() -> None:
    with DAG("d", schedule=PartitionedAtRuntime()) as dag:
        task = EmptyOperator(task_id="t")
    assert "partition_key" in CONTEXT_KEYS
    context = build_context(
        task=dag.task_dict["t"],
        run_id="manual__1",
        logical_date=MARCH_13,
        partition_key="2024-03-14T00:00:00",
        partition_date=datetime(2024, 3, 14, tzinfo=TAIPEI),
    )
    assert context["partition_key"] == "2024-03-14T00:00:00"
    dag_run = context["dag_run"]
    assert dag_run.partition_key == "2024-03-14T00:00:00"
    assert dag_run.partition_date == utc(2024, 3, 13, 16)
    assert dag_run.partition_date.utcoffset() == timedelta(0)
    naive = build_context(
        task=task, run_id="r", logical_date=MARCH_13, partition_date=datetime(2024, 3, 14, 2)
    )
    assert naive["dag_run"].partition_date == utc(2024, 3, 14, 2)
    assert naive["partition_key"] is None


def test_a_run_without_a_partition_has_none() -> None:
    task = EmptyOperator(task_id="t")
    context = build_context(task=task, run_id="r", logical_date=MARCH_13)
    assert context["partition_key"] is None
    assert (context["dag_run"].partition_key, context["dag_run"].partition_date) == (None, None)


def test_a_fixed_offset_partition_date_is_read_as_its_instant() -> None:
    task = EmptyOperator(task_id="t")
    context = build_context(
        task=task,
        run_id="r",
        logical_date=MARCH_13,
        partition_key="k",
        partition_date=datetime(2024, 3, 14, 9, tzinfo=timezone(timedelta(hours=9))),
    )
    assert context["dag_run"].partition_date == utc(2024, 3, 14)
