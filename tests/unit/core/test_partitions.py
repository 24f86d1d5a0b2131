"""Partition mappers, windows and wait policies (core.partitions), as Airflow 3.3 has them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import core.partitions
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
    PartitionFanOutExceeded,
    PartitionMapper,
    PartitionSatisfaction,
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
    TemporalMapper,
    WaitForAll,
    WaitPolicy,
    WeekWindow,
    Window,
    YearWindow,
    _compile_output_format_regex,
    downstream_keys,
    is_rollup,
    partition_satisfied,
    resolve_partition_date,
)

NEW_YORK = ZoneInfo("America/New_York")
BACKWARD = Window.Direction.BACKWARD
KEY = "2024-03-13T10:42:15"  # a Wednesday, in Q1, ISO week 11


class Anchored(PartitionMapper):
    """A test mapper whose anchor is fixed (or which fails to find one)."""

    def __init__(self, anchor: datetime | Exception | None) -> None:
        super().__init__()
        self.anchor = anchor

    def to_downstream(self, key: str) -> str:
        return key

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        if isinstance(self.anchor, Exception):
            raise self.anchor
        return self.anchor


class Returning(PartitionMapper):
    """A test mapper whose to_downstream returns a fixed value, whatever it is."""

    def __init__(self, value: Any, *, max_downstream_keys: int | None = None) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self.value = value

    def to_downstream(self, key: str) -> Any:
        return self.value


def test_the_public_names() -> None:
    assert sorted(core.partitions.__all__) == [
        "AllowedKeyMapper",
        "ChainMapper",
        "DayWindow",
        "FanOutMapper",
        "FixedKeyMapper",
        "HourWindow",
        "IdentityMapper",
        "MinimumCount",
        "MonthWindow",
        "PartitionFanOutExceeded",
        "PartitionMapper",
        "PartitionSatisfaction",
        "ProductMapper",
        "QuarterWindow",
        "RollupMapper",
        "SegmentWindow",
        "StartOfDayMapper",
        "StartOfHourMapper",
        "StartOfMonthMapper",
        "StartOfQuarterMapper",
        "StartOfWeekMapper",
        "StartOfYearMapper",
        "TemporalMapper",
        "WaitForAll",
        "WaitPolicy",
        "WeekWindow",
        "Window",
        "YearWindow",
        "downstream_keys",
        "is_rollup",
        "partition_satisfied",
        "resolve_partition_date",
    ]
    for name in core.partitions.__all__:
        assert hasattr(core.partitions, name)


# --- the base mapper ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, "3", 1.5])
def test_max_downstream_keys_must_be_a_positive_integer_or_none(bad: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"^max_downstream_keys must be a positive integer or None, got {bad!r}$"
    ):
        IdentityMapper(max_downstream_keys=bad)
    assert IdentityMapper().max_downstream_keys is None
    assert IdentityMapper(max_downstream_keys=1).max_downstream_keys == 1
    assert StartOfDayMapper(max_downstream_keys=7).max_downstream_keys == 7


def test_max_downstream_keys_is_read_only() -> None:
    mapper = IdentityMapper(max_downstream_keys=3)
    with pytest.raises(AttributeError):
        mapper.max_downstream_keys = 4  # type: ignore[misc]


def test_the_base_defaults_are_identity_and_no_date() -> None:
    mapper = Returning("k")
    assert mapper.is_rollup is False
    assert mapper.expected_decoded_type is str
    assert mapper.decode_downstream("abc") == "abc"
    assert mapper.encode_upstream("abc") == "abc"
    assert mapper.to_partition_date("2024-03-13") is None
    assert mapper.carry_partition_date(datetime(2024, 3, 13, tzinfo=UTC)) is None


def test_the_base_mapper_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        PartitionMapper()  # type: ignore[abstract]


def test_decode_and_encode_must_be_overridden_together() -> None:
    with pytest.raises(TypeError, match=r"\.OnlyDecode overrides only one of 'decode_downstream'"):

        class OnlyDecode(PartitionMapper):
            def to_downstream(self, key: str) -> str:
                return key

            def decode_downstream(self, downstream_key: str) -> int:
                return int(downstream_key)

    with pytest.raises(TypeError, match=r"\.OnlyEncode overrides only one of"):

        class OnlyEncode(PartitionMapper):
            def to_downstream(self, key: str) -> str:
                return key

            def encode_upstream(self, decoded: Any) -> str:
                return str(decoded)

    class Both(PartitionMapper):
        def to_downstream(self, key: str) -> str:
            return key

        def decode_downstream(self, downstream_key: str) -> int:
            return int(downstream_key)

        def encode_upstream(self, decoded: Any) -> str:
            return f"{decoded:03d}"

    assert Both().encode_upstream(Both().decode_downstream("7")) == "007"


def test_a_users_mapper_compares_by_identity() -> None:
    first, second = Anchored(None), Anchored(None)
    assert first == first
    assert first != second
    assert len({first, second}) == 2
    assert repr(first).startswith("<tests.unit.core.test_partitions.Anchored object at ")


# --- identity, fixed and allowed keys -----------------------------------------------------


def test_identity_keeps_the_key_and_carries_the_producers_date() -> None:
    mapper = IdentityMapper()
    assert mapper.to_downstream("us|2024") == "us|2024"
    date = datetime(2024, 3, 13, tzinfo=UTC)
    assert mapper.carry_partition_date(date) is date
    assert mapper.carry_partition_date(None) is None
    assert mapper.to_partition_date("2024-03-13") is None
    assert repr(mapper) == "IdentityMapper()"
    assert repr(IdentityMapper(max_downstream_keys=2)) == "IdentityMapper(max_downstream_keys=2)"
    assert IdentityMapper() == IdentityMapper()
    assert hash(IdentityMapper()) == hash(IdentityMapper())
    assert IdentityMapper() != IdentityMapper(max_downstream_keys=2)


def test_fixed_key_maps_everything_to_one_key() -> None:
    mapper = FixedKeyMapper("all_regions")
    assert mapper.to_downstream("us") == "all_regions"
    assert mapper.to_downstream("") == "all_regions"
    assert mapper.downstream_key == "all_regions"
    assert mapper.to_partition_date("all_regions") is None
    assert mapper.carry_partition_date(datetime(2024, 1, 1, tzinfo=UTC)) is None
    assert repr(mapper) == "FixedKeyMapper('all_regions')"
    assert mapper == FixedKeyMapper("all_regions")
    assert mapper != FixedKeyMapper("everything")
    with pytest.raises(AttributeError):
        mapper.downstream_key = "x"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", None, 3])
def test_fixed_key_must_be_a_non_empty_string(bad: Any) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^FixedKeyMapper downstream_key must be a non-empty str; got {bad!r}\.$",
    ):
        FixedKeyMapper(bad)


def test_allowed_keys_pass_and_others_are_rejected() -> None:
    mapper = AllowedKeyMapper(["us", "eu"])
    assert mapper.to_downstream("us") == "us"
    assert mapper.to_downstream("eu") == "eu"
    with pytest.raises(ValueError, match=r"^Key 'apac' not in allowed keys \['us', 'eu'\]$"):
        mapper.to_downstream("apac")
    with pytest.raises(ValueError, match="not in allowed keys"):
        mapper.to_downstream("u")  # a whole key, not a part of one
    assert mapper.allowed_keys == ("us", "eu")
    assert repr(mapper) == "AllowedKeyMapper(('us', 'eu'))"
    assert mapper == AllowedKeyMapper(("us", "eu"))
    assert mapper != AllowedKeyMapper(["eu", "us"])
    with pytest.raises(TypeError, match="not a str"):
        AllowedKeyMapper("us")


# --- chain and product --------------------------------------------------------------------


def test_a_chain_applies_its_mappers_in_turn() -> None:
    chain = ChainMapper(StartOfHourMapper(output_format="%Y-%m-%dT%H:%M:%S"), StartOfDayMapper())
    assert chain.to_downstream(KEY) == "2024-03-13"
    assert chain.mappers == (
        StartOfHourMapper(output_format="%Y-%m-%dT%H:%M:%S"),
        StartOfDayMapper(),
    )
    # The last mapper formats the final key, so it owns the date.
    assert chain.to_partition_date("2024-03-13") == datetime(2024, 3, 13, tzinfo=UTC)
    assert ChainMapper(StartOfDayMapper(), IdentityMapper()).to_partition_date("2024-03-13") is None


def test_a_chain_fans_out_through_every_key() -> None:
    weekly = FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow())
    to_days = ChainMapper(weekly, IdentityMapper())
    assert to_days.to_downstream(KEY) == [f"2024-03-{day}" for day in range(11, 18)]
    # Mapped back to its month, every day gives the same key: nothing is merged here.
    to_month = ChainMapper(
        weekly, AllowedKeyMapper([f"2024-03-{day}" for day in range(11, 18)]), IdentityMapper()
    )
    assert len(list(to_month.to_downstream(KEY))) == 7
    assert ChainMapper(IdentityMapper(), Returning([])).to_downstream("a") == []


def test_a_chain_rejects_what_is_not_a_key() -> None:
    with pytest.raises(
        TypeError,
        match=r"^ChainMapper child mappers must return a string or iterable of strings, "
        r"but Returning returned int$",
    ):
        ChainMapper(IdentityMapper(), Returning(3)).to_downstream("a")
    with pytest.raises(
        TypeError,
        match=r"^ChainMapper child mappers must return an iterable of strings, "
        r"but Returning yielded int$",
    ):
        ChainMapper(IdentityMapper(), Returning(["a", 3])).to_downstream("a")


def test_a_chain_needs_two_mappers() -> None:
    with pytest.raises(TypeError):
        ChainMapper(IdentityMapper())  # type: ignore[call-arg]
    chain = ChainMapper(IdentityMapper(), IdentityMapper(), IdentityMapper(), max_downstream_keys=4)
    assert repr(chain) == (
        "ChainMapper(IdentityMapper(), IdentityMapper(), IdentityMapper(), max_downstream_keys=4)"
    )
    assert chain == ChainMapper(*chain.mappers, max_downstream_keys=4)
    assert chain != ChainMapper(*chain.mappers)


def test_a_product_maps_each_part_of_a_composite_key() -> None:
    product = ProductMapper(IdentityMapper(), StartOfDayMapper())
    assert product.to_downstream("us|2026-06-14T03:00:00") == "us|2026-06-14"
    assert product.delimiter == "|"
    assert product.mappers == (IdentityMapper(), StartOfDayMapper())
    # The one temporal part gives the date.
    assert product.to_partition_date("us|2026-06-14") == datetime(2026, 6, 14, tzinfo=UTC)

    slashed = ProductMapper(
        AllowedKeyMapper(["us", "eu"]), IdentityMapper(), StartOfMonthMapper(), delimiter="/"
    )
    assert slashed.to_downstream("eu/sales/2026-06-14T03:00:00") == "eu/sales/2026-06"
    with pytest.raises(ValueError, match=r"^Key 'apac' not in allowed keys"):
        slashed.to_downstream("apac/sales/2026-06-14T03:00:00")


def test_a_product_needs_one_part_per_mapper() -> None:
    product = ProductMapper(IdentityMapper(), StartOfDayMapper())
    with pytest.raises(ValueError, match=r"^Expected 2 segments in key, got 3$"):
        product.to_downstream("us|eu|2026-06-14T03:00:00")
    with pytest.raises(ValueError, match=r"^Expected 2 segments in key, got 1$"):
        product.to_downstream("2026-06-14T03:00:00")
    assert product.to_partition_date("us|eu|2026-06-14") is None


def test_a_products_parts_map_to_one_key_each() -> None:
    product = ProductMapper(IdentityMapper(), Returning(["a", "b"]))
    with pytest.raises(
        TypeError,
        match=r"^ProductMapper child mappers must return a single key, "
        r"but Returning returned multiple keys$",
    ):
        product.to_downstream("x|y")


def test_a_products_date_needs_exactly_one_temporal_part() -> None:
    none_temporal = ProductMapper(IdentityMapper(), AllowedKeyMapper(["a"]))
    assert none_temporal.to_partition_date("x|a") is None
    two_temporal = ProductMapper(StartOfDayMapper(), StartOfMonthMapper())
    assert two_temporal.to_downstream("2026-06-14T03:00:00|2026-06-14T03:00:00") == (
        "2026-06-14|2026-06"
    )
    assert two_temporal.to_partition_date("2026-06-14|2026-06") is None


def test_product_equality_and_repr() -> None:
    product = ProductMapper(IdentityMapper(), StartOfDayMapper(), delimiter="/")
    assert repr(product) == (
        "ProductMapper(IdentityMapper(), StartOfDayMapper(timezone='UTC', "
        "input_format='%Y-%m-%dT%H:%M:%S', output_format='%Y-%m-%d'), delimiter='/')"
    )
    assert product == ProductMapper(IdentityMapper(), StartOfDayMapper(), delimiter="/")
    assert product != ProductMapper(IdentityMapper(), StartOfDayMapper())
    assert product != ProductMapper(StartOfDayMapper(), IdentityMapper(), delimiter="/")
    assert product != ChainMapper(IdentityMapper(), StartOfDayMapper())


# --- temporal mappers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapper", "expected", "anchor"),
    [
        (StartOfHourMapper(), "2024-03-13T10", datetime(2024, 3, 13, 10)),
        (StartOfDayMapper(), "2024-03-13", datetime(2024, 3, 13)),
        (StartOfWeekMapper(), "2024-03-11 (W11)", datetime(2024, 3, 11)),
        (StartOfMonthMapper(), "2024-03", datetime(2024, 3, 1)),
        (StartOfQuarterMapper(), "2024-Q1", datetime(2024, 1, 1)),
        (StartOfYearMapper(), "2024", datetime(2024, 1, 1)),
    ],
)
def test_the_documented_examples(mapper: TemporalMapper, expected: str, anchor: datetime) -> None:
    assert mapper.to_downstream(KEY) == expected
    assert mapper.decode_downstream(expected) == anchor
    assert mapper.to_partition_date(expected) == anchor.replace(tzinfo=ZoneInfo("UTC"))
    assert mapper.expected_decoded_type is datetime
    assert mapper.timezone == "UTC"
    assert mapper.input_format == "%Y-%m-%dT%H:%M:%S"
    assert mapper.output_format == type(mapper).default_output_format


@pytest.mark.parametrize(
    ("key", "quarter"),
    [
        ("2024-01-01T00:00:00", "2024-Q1"),
        ("2024-04-01T00:00:00", "2024-Q2"),
        ("2024-06-30T23:59:59", "2024-Q2"),
        ("2024-09-15T12:00:00", "2024-Q3"),
        ("2024-12-31T23:59:59", "2024-Q4"),
    ],
)
def test_quarters(key: str, quarter: str) -> None:
    assert StartOfQuarterMapper().to_downstream(key) == quarter


@pytest.mark.parametrize(
    ("key", "week"),
    [
        ("2024-03-11T00:00:00", "2024-03-11 (W11)"),  # a Monday is its own week
        ("2024-03-17T23:59:59", "2024-03-11 (W11)"),  # Sunday ends it
        ("2024-01-01T08:00:00", "2024-01-01 (W01)"),
        ("2021-01-03T08:00:00", "2020-12-28 (W53)"),  # a week across the new year
    ],
)
def test_weeks_start_on_monday(key: str, week: str) -> None:
    assert StartOfWeekMapper().to_downstream(key) == week


def test_a_key_that_does_not_match_the_input_format_fails() -> None:
    with pytest.raises(ValueError, match="does not match format"):
        StartOfDayMapper().to_downstream("2024-03-13")
    assert StartOfDayMapper(input_format="%Y-%m-%d").to_downstream("2024-03-13") == "2024-03-13"


def test_a_naive_key_is_read_in_the_mappers_time_zone() -> None:
    mapper = StartOfDayMapper(timezone="America/New_York")
    assert mapper.timezone == "America/New_York"
    assert mapper.tzinfo == NEW_YORK
    assert mapper.to_downstream("2024-03-13T23:30:00") == "2024-03-13"
    anchor = mapper.to_partition_date("2024-03-13")
    assert anchor == datetime(2024, 3, 13, 4, tzinfo=UTC)
    assert anchor.tzinfo == NEW_YORK
    assert anchor.isoformat() == "2024-03-13T00:00:00-04:00"


def test_an_aware_key_is_converted_to_the_mappers_time_zone() -> None:
    mapper = StartOfDayMapper(timezone="America/New_York", input_format="%Y-%m-%dT%H:%M:%S%z")
    # 02:30 UTC on the 14th is still the 13th in New York.
    assert mapper.to_downstream("2024-03-14T02:30:00+0000") == "2024-03-13"
    assert StartOfDayMapper(input_format="%Y-%m-%dT%H:%M:%S%z").to_downstream(
        "2024-03-13T22:30:00-0400"
    ) == ("2024-03-14")
    hourly = StartOfHourMapper(timezone="Asia/Kolkata", output_format="%Y-%m-%dT%H:%M%z")
    assert hourly.to_downstream("2024-03-13T10:42:15") == "2024-03-13T10:00+0530"
    assert hourly.to_partition_date("2024-03-13T10:00+0530") == datetime(
        2024, 3, 13, 4, 30, tzinfo=UTC
    )


def test_time_zones_may_be_given_as_tzinfo() -> None:
    assert StartOfDayMapper(timezone=NEW_YORK).timezone == "America/New_York"
    assert StartOfDayMapper(timezone=UTC).timezone == "UTC"
    assert StartOfDayMapper(timezone=timezone(timedelta(0))).timezone == "UTC"
    plus_two = StartOfDayMapper(timezone=timezone(timedelta(hours=2)))
    assert plus_two.timezone == "Etc/GMT-2"
    assert plus_two.to_downstream("2024-03-13T23:30:00") == "2024-03-13"
    assert plus_two.to_partition_date("2024-03-13") == datetime(2024, 3, 12, 22, tzinfo=UTC)
    assert StartOfDayMapper(timezone=NEW_YORK) == StartOfDayMapper(timezone="America/New_York")


def test_unknown_time_zones_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"^unknown time zone 'Nowhere/Atlantis'$"):
        StartOfDayMapper(timezone="Nowhere/Atlantis")
    with pytest.raises(ValueError, match=r"^unknown time zone ''$"):
        StartOfDayMapper(timezone="")
    with pytest.raises(ValueError, match="has no IANA name"):
        StartOfDayMapper(timezone=timezone(timedelta(hours=5, minutes=30)))


def test_an_empty_output_format_means_the_default() -> None:
    assert StartOfDayMapper(output_format="").output_format == "%Y-%m-%d"


def test_custom_output_formats_round_trip() -> None:
    hourly = StartOfHourMapper(output_format="%Y%m%d%H")
    assert hourly.to_downstream(KEY) == "2024031310"
    assert hourly.to_partition_date("2024031310") == datetime(2024, 3, 13, 10, tzinfo=UTC)
    weekly = StartOfWeekMapper(output_format="W%V of %d.%m.%Y")
    assert weekly.to_downstream(KEY) == "W11 of 11.03.2024"
    assert weekly.decode_downstream("W11 of 11.03.2024") == datetime(2024, 3, 11)
    quarterly = StartOfQuarterMapper(output_format="Q{quarter}-%Y")
    assert quarterly.to_downstream("2024-11-02T00:00:00") == "Q4-2024"
    assert quarterly.decode_downstream("Q4-2024") == datetime(2024, 10, 1)
    assert quarterly.to_partition_date("Q4-2024") == datetime(2024, 10, 1, tzinfo=UTC)


def test_week_keys_that_cannot_be_decoded() -> None:
    with pytest.raises(
        ValueError,
        match=r"^StartOfWeekMapper.decode_downstream could not parse '2024-03-11' with "
        r"output_format '%Y-%m-%d \(W%V\)'; output_format must include the %Y, %m and %d",
    ):
        StartOfWeekMapper().decode_downstream("2024-03-11")
    # A prefix or suffix does not match: the pattern is anchored.
    with pytest.raises(ValueError, match="could not parse"):
        StartOfWeekMapper().decode_downstream("x2024-03-11 (W11)")
    without_day = StartOfWeekMapper(output_format="%Y-W%V")
    assert without_day.to_downstream(KEY) == "2024-W11"  # maps, but cannot be decoded
    with pytest.raises(ValueError, match="must include the %Y, %m and %d directives"):
        without_day.decode_downstream("2024-W11")


def test_quarter_keys_that_cannot_be_decoded() -> None:
    with pytest.raises(
        ValueError,
        match=r"^StartOfQuarterMapper.decode_downstream could not parse '2024-Q5' with "
        r"output_format '%Y-Q\{quarter\}'; output_format must include the %Y directive "
        r"and the \{quarter\} placeholder\.$",
    ):
        StartOfQuarterMapper().decode_downstream("2024-Q5")
    without_quarter = StartOfQuarterMapper(output_format="%Y-%m")
    assert without_quarter.to_downstream(KEY) == "2024-01"
    with pytest.raises(ValueError, match="the %Y directive and the"):
        without_quarter.decode_downstream("2024-01")


@pytest.mark.parametrize(
    ("output_format", "message"),
    [
        ("%Y-%m-%d %Y", r"reuses directive '%Y'; each strftime directive may appear at most once"),
        ("%Y-%m-%d {}", r"has invalid placeholder \{\}; placeholder names must be valid"),
        ("%Y-%m-%d {1st}", r"has invalid placeholder \{1st\}"),
        ("%Y-%m-%d {x}/{x}", r"reuses placeholder \{x\}; each placeholder may appear at most once"),
        ("%Y-%m-%d {a}{b}", r"has adjacent default-pattern placeholders ending at \{b\}"),
    ],
)
def test_malformed_week_output_formats_fail_at_construction(
    output_format: str, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^output_format '{output_format}' {message}"):
        StartOfWeekMapper(output_format=output_format)


def test_quarter_output_formats_fail_at_construction() -> None:
    with pytest.raises(ValueError, match=r"reuses placeholder \{quarter\}"):
        StartOfQuarterMapper(output_format="%Y-Q{quarter}{quarter}")
    with pytest.raises(ValueError, match=r"adjacent default-pattern placeholders ending at \{b\}"):
        StartOfQuarterMapper(output_format="%Y{a}{b}")
    # {quarter} is narrowed to one digit, so it may touch another placeholder.
    assert StartOfQuarterMapper(output_format="%Y-{x}{quarter}").output_format == "%Y-{x}{quarter}"
    # The other mappers decode with strptime and do not compile the format.
    assert StartOfDayMapper(output_format="%Y %Y").output_format == "%Y %Y"


def test_the_output_format_regex() -> None:
    pattern = _compile_output_format_regex("%Y-%m-%d (W%V)")
    assert pattern.pattern == r"^(?P<Y>\d{4})\-(?P<m>\d{2})\-(?P<d>\d{2})\ \(W(?P<V>\d{2})\)$"
    quarter = _compile_output_format_regex("%Y-Q{quarter}", {"quarter": "[1-4]"})
    assert quarter.pattern == r"^(?P<Y>\d{4})\-Q(?P<quarter>[1-4])$"
    assert _compile_output_format_regex("%Y-Q{quarter}").pattern == (
        r"^(?P<Y>\d{4})\-Q(?P<quarter>\w+)$"
    )
    # Unknown directives, a bare % and an unclosed { are literal.
    assert _compile_output_format_regex("%X {q 100%").pattern == r"^%X\ \{q\ 100%$"
    assert _compile_output_format_regex("{a}-{b}").fullmatch("foo-bar") is not None


def test_encode_upstream_formats_a_time_in_the_input_format() -> None:
    mapper = StartOfHourMapper(timezone="America/New_York", input_format="%Y-%m-%dT%H%z")
    assert mapper.encode_upstream(datetime(2024, 3, 13, 10)) == "2024-03-13T10-0400"
    # An aware time is first converted to the mapper's zone.
    assert mapper.encode_upstream(datetime(2024, 3, 13, 10, tzinfo=UTC)) == "2024-03-13T06-0400"
    assert StartOfHourMapper().encode_upstream(datetime(2024, 3, 13, 10)) == "2024-03-13T10:00:00"


def test_a_repeated_wall_time_is_its_second_occurrence() -> None:
    # New York's clocks went back from 02:00 EDT to 01:00 EST on 2024-11-03.
    hourly = StartOfHourMapper(timezone="America/New_York")
    anchor = hourly.to_partition_date("2024-11-03T01")
    # (An aware time in a fold never equals one in another zone: compare in UTC.)
    assert anchor.astimezone(UTC) == datetime(2024, 11, 3, 6, tzinfo=UTC)
    assert anchor.utcoffset() == timedelta(hours=-5)
    assert anchor.fold == 1
    to_utc = StartOfHourMapper(
        timezone="America/New_York", output_format="%Y-%m-%dT%H%z", input_format="%Y-%m-%dT%H:%M"
    )
    assert to_utc.to_downstream("2024-11-03T01:30") == "2024-11-03T01-0500"


def test_a_skipped_wall_time_moves_forward() -> None:
    # New York's clocks jumped from 02:00 EST to 03:00 EDT on 2024-03-10.
    hourly = StartOfHourMapper(timezone="America/New_York", output_format="%Y-%m-%dT%H%z")
    assert hourly.to_downstream("2024-03-10T02:30:00") == "2024-03-10T03-0400"
    assert StartOfHourMapper(timezone="America/New_York").to_partition_date(
        "2024-03-10T02"
    ) == datetime(2024, 3, 10, 7, tzinfo=UTC)
    assert hourly.encode_upstream(datetime(2024, 3, 10, 2)) == "2024-03-10T03:00:00"


def test_temporal_equality_and_repr() -> None:
    mapper = StartOfHourMapper(timezone="America/New_York", max_downstream_keys=3)
    assert repr(mapper) == (
        "StartOfHourMapper(timezone='America/New_York', input_format='%Y-%m-%dT%H:%M:%S', "
        "output_format='%Y-%m-%dT%H', max_downstream_keys=3)"
    )
    rebuilt = StartOfHourMapper(
        timezone=mapper.timezone,
        input_format=mapper.input_format,
        output_format=mapper.output_format,
        max_downstream_keys=mapper.max_downstream_keys,
    )
    assert rebuilt == mapper
    assert hash(rebuilt) == hash(mapper)
    assert StartOfHourMapper() != StartOfHourMapper(timezone="America/New_York")
    assert StartOfHourMapper() != StartOfHourMapper(input_format="%Y-%m-%dT%H")
    assert StartOfHourMapper() != StartOfHourMapper(output_format="%Y%m%d%H")
    assert StartOfHourMapper() == StartOfHourMapper(output_format="%Y-%m-%dT%H")
    assert StartOfDayMapper(output_format="%Y") != StartOfYearMapper()
    assert len({StartOfDayMapper(), StartOfDayMapper(), StartOfMonthMapper()}) == 2
    with pytest.raises(AttributeError):
        mapper.timezone = "UTC"  # type: ignore[misc]


# --- windows ------------------------------------------------------------------------------


def test_directions() -> None:
    assert Window.Direction.FORWARD.value == "forward"
    assert Window.Direction.BACKWARD.value == "backward"
    assert Window.Direction("backward") is BACKWARD
    assert DayWindow().direction is Window.Direction.FORWARD
    assert DayWindow(direction="backward").direction is BACKWARD
    with pytest.raises(ValueError, match="'sideways' is not a valid"):
        DayWindow(direction="sideways")
    with pytest.raises(TypeError):
        Window()  # type: ignore[abstract]


def test_an_hour_window_is_sixty_minutes() -> None:
    start = datetime(2024, 3, 13, 10)
    forward = list(HourWindow().to_upstream(start))
    assert len(forward) == 60
    assert forward[0] == start
    assert forward[-1] == datetime(2024, 3, 13, 10, 59)
    backward = list(HourWindow(direction=BACKWARD).to_upstream(start))
    assert backward[0] == datetime(2024, 3, 13, 9, 1)
    assert backward[-1] == start


def test_a_day_window_is_twenty_four_hours() -> None:
    start = datetime(2024, 3, 13)
    assert list(DayWindow().to_upstream(start)) == [start + timedelta(hours=h) for h in range(24)]
    assert list(DayWindow(direction=BACKWARD).to_upstream(start)) == [
        datetime(2024, 3, 12, 1) + timedelta(hours=h) for h in range(24)
    ]


def test_a_week_window_is_seven_days() -> None:
    monday = datetime(2024, 3, 11)
    assert list(WeekWindow().to_upstream(monday)) == [monday + timedelta(days=d) for d in range(7)]
    assert list(WeekWindow(direction=BACKWARD).to_upstream(monday)) == [
        datetime(2024, 3, 5) + timedelta(days=d) for d in range(7)
    ]


@pytest.mark.parametrize(
    ("start", "days"),
    [
        (datetime(2023, 2, 1), 28),
        (datetime(2024, 2, 1), 29),
        (datetime(2024, 4, 1), 30),
        (datetime(2024, 12, 1), 31),
    ],
)
def test_a_month_window_is_the_days_of_its_month(start: datetime, days: int) -> None:
    members = list(MonthWindow().to_upstream(start))
    assert len(members) == days
    assert members[0] == start
    assert members[-1] == start + timedelta(days=days - 1)
    assert {member.month for member in members} == {start.month}


def test_a_backward_month_window_ends_at_its_anchor() -> None:
    # The day after the previous month's first, up to the anchor: not calendar February.
    members = list(MonthWindow(direction=BACKWARD).to_upstream(datetime(2024, 3, 1)))
    assert len(members) == 29
    assert members[0] == datetime(2024, 2, 2)
    assert members[-1] == datetime(2024, 3, 1)
    january = list(MonthWindow(direction=BACKWARD).to_upstream(datetime(2024, 1, 1)))
    assert (len(january), january[0], january[-1]) == (
        31,
        datetime(2023, 12, 2),
        datetime(2024, 1, 1),
    )


def test_quarter_and_year_windows_are_month_starts() -> None:
    assert list(QuarterWindow().to_upstream(datetime(2024, 1, 1))) == [
        datetime(2024, 1, 1),
        datetime(2024, 2, 1),
        datetime(2024, 3, 1),
    ]
    assert list(QuarterWindow(direction=BACKWARD).to_upstream(datetime(2024, 1, 1))) == [
        datetime(2023, 11, 1),
        datetime(2023, 12, 1),
        datetime(2024, 1, 1),
    ]
    year = list(YearWindow().to_upstream(datetime(2024, 1, 1)))
    assert year == [datetime(2024, month, 1) for month in range(1, 13)]
    assert list(YearWindow().to_upstream(datetime(2024, 7, 1)))[-1] == datetime(2025, 6, 1)
    backward = list(YearWindow(direction=BACKWARD).to_upstream(datetime(2024, 1, 1)))
    assert (backward[0], backward[-1]) == (datetime(2023, 2, 1), datetime(2024, 1, 1))


@pytest.mark.parametrize("window", [MonthWindow(), QuarterWindow(), YearWindow(direction=BACKWARD)])
def test_month_based_windows_need_a_first_of_the_month(window: Window) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^{type(window).__name__} expects a period start on day 1 of the month, "
        r"got 2024-01-31T00:00:00\. The paired upstream mapper's decode_downstream must "
        r"normalise to day 1\.$",
    ):
        list(window.to_upstream(datetime(2024, 1, 31)))


def test_temporal_windows_expect_datetimes() -> None:
    for window in (HourWindow(), DayWindow(), WeekWindow(), MonthWindow(), QuarterWindow()):
        assert window.expected_decoded_type is datetime
    assert YearWindow.expected_decoded_type is datetime
    assert SegmentWindow.expected_decoded_type is str


def test_window_equality_and_repr() -> None:
    assert DayWindow() == DayWindow(direction="forward")
    assert hash(DayWindow()) == hash(DayWindow(direction="forward"))
    assert DayWindow() != DayWindow(direction=BACKWARD)
    assert DayWindow() != WeekWindow()
    assert repr(DayWindow()) == "DayWindow(direction=Window.Direction.FORWARD)"
    assert (
        repr(MonthWindow(direction=BACKWARD)) == "MonthWindow(direction=Window.Direction.BACKWARD)"
    )
    assert MonthWindow(direction=BACKWARD) == MonthWindow(direction=BACKWARD)
    with pytest.raises(AttributeError):
        DayWindow().direction = BACKWARD  # type: ignore[misc]


def test_a_segment_window_is_its_segments() -> None:
    window = SegmentWindow(["us", "eu", "apac", "us"])
    assert window.segments == frozenset({"us", "eu", "apac"})
    assert window.to_upstream("anything") == frozenset({"us", "eu", "apac"})
    assert window.to_upstream(None) == window.segments
    assert repr(window) == "SegmentWindow(('apac', 'eu', 'us'))"
    assert window == SegmentWindow(("apac", "eu", "us"))
    assert hash(window) == hash(SegmentWindow(iter(["eu", "apac", "us"])))
    assert window != SegmentWindow(["us", "eu"])
    assert window.direction is Window.Direction.FORWARD
    with pytest.raises(AttributeError):
        window.segments = frozenset()  # type: ignore[misc]


def test_segment_window_errors() -> None:
    with pytest.raises(
        ValueError, match=r"^SegmentWindow segment keys must be str; got 'int' at index 1: 3$"
    ):
        SegmentWindow(["us", 3])  # type: ignore[list-item]
    with pytest.raises(
        ValueError,
        match=r"^SegmentWindow segment keys must be non-empty; got an empty string at index 2\.$",
    ):
        SegmentWindow(["us", "eu", ""])
    with pytest.raises(
        ValueError,
        match=r"^SegmentWindow requires at least one segment key; got an empty iterable\.$",
    ):
        SegmentWindow([])


# --- wait policies ------------------------------------------------------------------------


def test_wait_for_all() -> None:
    policy = WaitForAll()
    expected = {"a", "b", "c"}
    assert policy.is_satisfied_by_keys(matched={"a", "b"}, expected=expected) == (
        PartitionSatisfaction(satisfied=False, unreachable=False, unreachable_reason=None)
    )
    assert policy.is_satisfied_by_keys(matched={"a", "b", "c", "z"}, expected=expected).satisfied
    assert policy.is_satisfied_by_keys(matched=set(), expected=set()).satisfied  # vacuously
    assert policy.is_satisfied(3, 3) is True
    assert policy.is_satisfied(2, 3) is False
    assert policy.is_unreachable(0) is False
    assert policy == WaitForAll()
    assert hash(policy) == hash(WaitForAll())
    assert repr(policy) == "WaitForAll()"


def test_minimum_count_positive() -> None:
    policy = MinimumCount(2)
    expected = {"a", "b", "c"}
    assert not policy.is_satisfied_by_keys(matched={"a"}, expected=expected).satisfied
    assert policy.is_satisfied_by_keys(matched={"a", "c"}, expected=expected).satisfied
    # Only expected keys count.
    assert not policy.is_satisfied_by_keys(matched={"a", "x", "y"}, expected=expected).satisfied
    assert policy.is_satisfied(matched=2, expected=3) is True
    assert policy.n == 2
    assert repr(policy) == "MinimumCount(n=2)"
    assert policy == MinimumCount(2)
    assert policy != MinimumCount(3)
    assert hash(policy) == hash(MinimumCount(n=2))


def test_minimum_count_negative_allows_that_many_missing() -> None:
    policy = MinimumCount(-1)
    expected = {"a", "b", "c"}
    assert not policy.is_satisfied_by_keys(matched={"a"}, expected=expected).satisfied
    assert policy.is_satisfied_by_keys(matched={"a", "b"}, expected=expected).satisfied
    # The threshold is clamped at zero, so a window smaller than -n fires at once.
    assert MinimumCount(-5).is_satisfied_by_keys(matched=set(), expected=expected) == (
        PartitionSatisfaction(satisfied=True, unreachable=False, unreachable_reason=None)
    )
    assert MinimumCount(-5).is_unreachable(0) is False


def test_minimum_count_larger_than_the_window_is_unreachable() -> None:
    result = MinimumCount(5).is_satisfied_by_keys(matched={"a", "b", "c"}, expected={"a", "b", "c"})
    assert result == PartitionSatisfaction(
        satisfied=False,
        unreachable=True,
        unreachable_reason=(
            "wait policy MinimumCount(n=5) can never be satisfied given the window's cardinality 3"
        ),
    )
    assert MinimumCount(3).is_unreachable(3) is False
    assert MinimumCount(4).is_unreachable(3) is True


def test_minimum_count_zero_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"^MinimumCount\(0\) is degenerate: n=0 would always fire"
    ):
        MinimumCount(0)


def test_partition_satisfaction_keeps_the_reason_with_the_flag() -> None:
    with pytest.raises(
        ValueError, match=r"^unreachable_reason must be set when unreachable is True$"
    ):
        PartitionSatisfaction(satisfied=False, unreachable=True, unreachable_reason=None)
    with pytest.raises(ValueError, match=r"^unreachable_reason must be None when unreachable is"):
        PartitionSatisfaction(satisfied=False, unreachable=False, unreachable_reason="why")
    with pytest.raises(TypeError):
        WaitPolicy()  # type: ignore[abstract]


def test_a_users_wait_policy_uses_the_counts() -> None:
    class AtLeastHalf(WaitPolicy):
        def is_satisfied(self, matched: int, expected: int) -> bool:
            return 2 * matched >= expected

        def is_unreachable(self, expected: int) -> bool:
            return expected == 0

    policy = AtLeastHalf()
    assert policy.is_satisfied_by_keys(matched={"a", "q"}, expected={"a", "b"}).satisfied
    assert not policy.is_satisfied_by_keys(matched={"q"}, expected={"a", "b"}).satisfied
    empty = policy.is_satisfied_by_keys(matched=set(), expected=set())
    assert empty.unreachable
    assert empty.unreachable_reason is not None
    assert empty.unreachable_reason.endswith(
        "can never be satisfied given the window's cardinality 0"
    )


# --- rollups ------------------------------------------------------------------------------


def test_a_daily_rollup_expects_twenty_four_hourly_keys_in_the_input_format() -> None:
    rollup = RollupMapper(
        upstream_mapper=StartOfDayMapper(input_format="%Y-%m-%dT%H"), window=DayWindow()
    )
    assert rollup.is_rollup is True
    assert is_rollup(rollup)
    assert not is_rollup(StartOfDayMapper())
    assert rollup.to_downstream("2024-03-13T10") == "2024-03-13"
    assert rollup.to_upstream("2024-03-13") == frozenset(f"2024-03-13T{h:02d}" for h in range(24))
    assert rollup.to_partition_date("2024-03-13") == datetime(2024, 3, 13, tzinfo=UTC)
    assert rollup.wait_policy == WaitForAll()
    default_format = RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())
    assert sorted(default_format.to_upstream("2024-03-13"))[:2] == [
        "2024-03-13T00:00:00",
        "2024-03-13T01:00:00",
    ]


def test_a_monthly_rollup_expects_each_day() -> None:
    rollup = RollupMapper(
        upstream_mapper=StartOfMonthMapper(input_format="%Y-%m-%d"), window=MonthWindow()
    )
    assert rollup.to_downstream("2024-02-17") == "2024-02"
    assert rollup.to_upstream("2024-02") == frozenset(f"2024-02-{d:02d}" for d in range(1, 30))
    assert len(rollup.to_upstream("2023-02")) == 28
    assert len(rollup.to_upstream("2024-07")) == 31
    backward = RollupMapper(
        upstream_mapper=StartOfMonthMapper(input_format="%Y-%m-%d"),
        window=MonthWindow(direction=BACKWARD),
    )
    assert sorted(backward.to_upstream("2024-03")) == (
        [f"2024-02-{d:02d}" for d in range(2, 30)] + ["2024-03-01"]
    )


def test_quarterly_and_weekly_rollups() -> None:
    quarterly = RollupMapper(
        upstream_mapper=StartOfQuarterMapper(input_format="%Y-%m"), window=QuarterWindow()
    )
    assert quarterly.to_downstream("2024-05") == "2024-Q2"
    assert quarterly.to_upstream("2024-Q2") == frozenset({"2024-04", "2024-05", "2024-06"})
    weekly = RollupMapper(
        upstream_mapper=StartOfWeekMapper(input_format="%Y-%m-%d"), window=WeekWindow()
    )
    assert weekly.to_upstream("2024-12-30 (W01)") == frozenset(
        ["2024-12-30", "2024-12-31"] + [f"2025-01-0{d}" for d in range(1, 6)]
    )
    yearly = RollupMapper(
        upstream_mapper=StartOfYearMapper(input_format="%Y-%m"), window=YearWindow()
    )
    assert yearly.to_upstream("2024") == frozenset(f"2024-{m:02d}" for m in range(1, 13))


def test_a_local_daily_rollup_across_dst() -> None:
    def hours(day: str) -> list[str]:
        rollup = RollupMapper(
            upstream_mapper=StartOfDayMapper(
                timezone="America/New_York", input_format="%Y-%m-%dT%H"
            ),
            window=DayWindow(),
        )
        return sorted(rollup.to_upstream(day))

    # Spring forward: 02:00 does not exist and becomes 03:00, so 23 keys.
    spring = hours("2024-03-10")
    assert len(spring) == 23
    assert "2024-03-10T02" not in spring
    # Fall back: 24 naive steps, one key per wall hour; the repeated 01:00 counts once.
    fall = hours("2024-11-03")
    assert fall == [f"2024-11-03T{h:02d}" for h in range(24)]


def test_a_segment_rollup_waits_for_every_region() -> None:
    rollup = RollupMapper(
        upstream_mapper=FixedKeyMapper("all_regions"), window=SegmentWindow(["us", "eu", "apac"])
    )
    assert rollup.to_downstream("eu") == "all_regions"
    assert rollup.to_upstream("all_regions") == frozenset({"us", "eu", "apac"})
    assert rollup.to_partition_date("all_regions") is None
    assert not partition_satisfied(rollup, "all_regions", {"us", "eu"}).satisfied
    assert partition_satisfied(rollup, "all_regions", {"us", "eu", "apac"}).satisfied


def test_a_rollup_needs_matching_decoded_types() -> None:
    with pytest.raises(
        TypeError,
        match=r"^SegmentWindow expects decoded values of type 'str', but StartOfDayMapper "
        r"decodes to 'datetime'\. Pair a window and an upstream mapper whose "
        r"'expected_decoded_type' match\.$",
    ):
        RollupMapper(upstream_mapper=StartOfDayMapper(), window=SegmentWindow(["us"]))
    with pytest.raises(
        TypeError, match=r"^DayWindow expects decoded values of type 'datetime', but IdentityMapper"
    ):
        RollupMapper(upstream_mapper=IdentityMapper(), window=DayWindow())


def test_rollup_equality_and_repr() -> None:
    rollup = RollupMapper(
        upstream_mapper=FixedKeyMapper("all"),
        window=SegmentWindow(["b", "a"]),
        wait_policy=MinimumCount(-1),
        max_downstream_keys=1,
    )
    assert repr(rollup) == (
        "RollupMapper(upstream_mapper=FixedKeyMapper('all'), window=SegmentWindow(('a', 'b')), "
        "wait_policy=MinimumCount(n=-1), max_downstream_keys=1)"
    )
    rebuilt = RollupMapper(
        upstream_mapper=rollup.upstream_mapper,
        window=rollup.window,
        wait_policy=rollup.wait_policy,
        max_downstream_keys=rollup.max_downstream_keys,
    )
    assert rebuilt == rollup
    assert hash(rebuilt) == hash(rollup)
    assert rollup != RollupMapper(upstream_mapper=FixedKeyMapper("all"), window=SegmentWindow("ab"))
    assert RollupMapper(
        upstream_mapper=FixedKeyMapper("all"), window=SegmentWindow(["a"])
    ) == RollupMapper(
        upstream_mapper=FixedKeyMapper("all"), window=SegmentWindow(["a"]), wait_policy=WaitForAll()
    )


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 12, 31)))
def test_every_upstream_key_is_in_its_downstreams_window(moment: datetime) -> None:
    pairs: list[tuple[TemporalMapper, Window]] = [
        (StartOfHourMapper(input_format="%Y-%m-%dT%H:%M"), HourWindow()),
        (StartOfDayMapper(input_format="%Y-%m-%dT%H"), DayWindow()),
        (StartOfWeekMapper(input_format="%Y-%m-%d"), WeekWindow()),
        (StartOfMonthMapper(input_format="%Y-%m-%d"), MonthWindow()),
        (StartOfQuarterMapper(input_format="%Y-%m"), QuarterWindow()),
        (StartOfYearMapper(input_format="%Y-%m"), YearWindow()),
    ]
    for mapper, window in pairs:
        rollup = RollupMapper(upstream_mapper=mapper, window=window)
        key = moment.strftime(mapper.input_format)
        assert key in rollup.to_upstream(str(rollup.to_downstream(key)))


# --- fan-out ------------------------------------------------------------------------------


def test_a_weekly_key_fans_out_to_its_seven_days() -> None:
    fan_out = FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow())
    assert fan_out.downstream_mapper == StartOfDayMapper()
    assert fan_out.to_downstream(KEY) == [f"2024-03-{day}" for day in range(11, 18)]
    assert fan_out.to_partition_date("2024-03-12") == datetime(2024, 3, 12, tzinfo=UTC)
    assert fan_out.carry_partition_date(datetime(2024, 3, 11, tzinfo=UTC)) is None
    assert not is_rollup(fan_out)


def test_a_backward_weekly_fan_out_is_the_seven_days_ending_at_its_monday() -> None:
    fan_out = FanOutMapper(
        upstream_mapper=StartOfWeekMapper(), window=WeekWindow(direction=BACKWARD)
    )
    assert fan_out.to_downstream(KEY) == [
        "2024-03-05",
        "2024-03-06",
        "2024-03-07",
        "2024-03-08",
        "2024-03-09",
        "2024-03-10",
        "2024-03-11",
    ]


def test_the_default_downstream_mappers() -> None:
    assert FanOutMapper.default_downstream_mapper_by_window_name == {
        "DayWindow": StartOfHourMapper,
        "WeekWindow": StartOfDayMapper,
        "MonthWindow": StartOfDayMapper,
        "QuarterWindow": StartOfMonthMapper,
        "YearWindow": StartOfMonthMapper,
    }
    daily = FanOutMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())
    assert daily.to_downstream(KEY) == [f"2024-03-13T{h:02d}" for h in range(24)]
    monthly = FanOutMapper(upstream_mapper=StartOfMonthMapper(), window=MonthWindow())
    assert monthly.to_downstream("2024-02-10T00:00:00")[-1] == "2024-02-29"
    assert len(monthly.to_downstream("2024-02-10T00:00:00")) == 29
    quarterly = FanOutMapper(upstream_mapper=StartOfQuarterMapper(), window=QuarterWindow())
    assert quarterly.to_downstream("2024-08-10T00:00:00") == ["2024-07", "2024-08", "2024-09"]
    yearly = FanOutMapper(upstream_mapper=StartOfYearMapper(), window=YearWindow())
    assert yearly.to_downstream(KEY) == [f"2024-{m:02d}" for m in range(1, 13)]
    assert yearly.downstream_mapper == StartOfMonthMapper()


def test_an_hour_window_needs_an_explicit_downstream_mapper() -> None:
    with pytest.raises(
        ValueError,
        match=r"^FanOutMapper has no default downstream_mapper for window type HourWindow; "
        r"pass downstream_mapper explicitly\.$",
    ):
        FanOutMapper(upstream_mapper=StartOfHourMapper(), window=HourWindow())
    minutes = FanOutMapper(
        upstream_mapper=StartOfHourMapper(),
        window=HourWindow(),
        downstream_mapper=StartOfHourMapper(output_format="%Y-%m-%dT%H:%M"),
    )
    keys = minutes.to_downstream(KEY)
    assert (len(keys), keys[0], keys[-1]) == (60, "2024-03-13T10:00", "2024-03-13T10:59")


def test_a_users_window_needs_an_explicit_downstream_mapper() -> None:
    class Weekdays(WeekWindow):
        def to_upstream(self, period_start: datetime) -> tuple[datetime, ...]:
            return super().to_upstream(period_start)[:5]

    with pytest.raises(ValueError, match="for window type Weekdays"):
        FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=Weekdays())
    fan_out = FanOutMapper(
        upstream_mapper=StartOfWeekMapper(), window=Weekdays(), downstream_mapper=StartOfDayMapper()
    )
    assert fan_out.to_downstream(KEY) == [f"2024-03-{day}" for day in range(11, 16)]

    class WithDefaults(FanOutMapper):
        default_downstream_mapper_by_window_name = {"Weekdays": StartOfDayMapper}

    assert WithDefaults(
        upstream_mapper=StartOfWeekMapper(), window=Weekdays()
    ).downstream_mapper == (StartOfDayMapper())


def test_a_downstream_mapper_without_format_gives_iso_times() -> None:
    fan_out = FanOutMapper(
        upstream_mapper=StartOfWeekMapper(), window=WeekWindow(), downstream_mapper=IdentityMapper()
    )
    assert fan_out.to_downstream(KEY)[:2] == ["2024-03-11T00:00:00", "2024-03-12T00:00:00"]
    segments = FanOutMapper(
        upstream_mapper=FixedKeyMapper("all"),
        window=SegmentWindow(["us"]),
        downstream_mapper=IdentityMapper(),
    )
    assert segments.to_downstream("anything") == ["us"]


def test_a_fan_out_needs_one_upstream_key() -> None:
    fan_out = FanOutMapper(
        upstream_mapper=Returning(["a", "b"]),
        window=WeekWindow(),
        downstream_mapper=IdentityMapper(),
    )
    with pytest.raises(
        TypeError,
        match=r"^FanOutMapper.upstream_mapper must produce a single key from to_downstream",
    ):
        fan_out.to_downstream("x")


def test_fan_out_equality_and_repr() -> None:
    fan_out = FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow())
    explicit = FanOutMapper(
        upstream_mapper=StartOfWeekMapper(),
        window=WeekWindow(),
        downstream_mapper=StartOfDayMapper(),
    )
    assert fan_out == explicit
    assert hash(fan_out) == hash(explicit)
    assert fan_out != FanOutMapper(
        upstream_mapper=StartOfWeekMapper(), window=WeekWindow(), max_downstream_keys=7
    )
    assert repr(FanOutMapper(upstream_mapper=StartOfYearMapper(), window=YearWindow())) == (
        "FanOutMapper(upstream_mapper=StartOfYearMapper(timezone='UTC', "
        "input_format='%Y-%m-%dT%H:%M:%S', output_format='%Y'), "
        "window=YearWindow(direction=Window.Direction.FORWARD), "
        "downstream_mapper=StartOfMonthMapper(timezone='UTC', "
        "input_format='%Y-%m-%dT%H:%M:%S', output_format='%Y-%m'))"
    )


# --- downstream_keys ----------------------------------------------------------------------


def test_downstream_keys_of_a_single_key() -> None:
    assert downstream_keys(StartOfDayMapper(), KEY, cap=1000) == ("2024-03-13",)
    assert downstream_keys(IdentityMapper(), "a", cap=1) == ("a",)


def test_downstream_keys_are_distinct_in_first_seen_order() -> None:
    assert downstream_keys(Returning(["b", "a", "b", "c", "a"]), "x", cap=3) == ("b", "a", "c")

    def generate() -> Iterator[str]:
        yield from ("z", "y", "z")

    assert downstream_keys(Returning(generate()), "x", cap=10) == ("z", "y")
    assert downstream_keys(Returning([]), "x", cap=10) == ()


def test_downstream_keys_must_be_strings() -> None:
    with pytest.raises(
        TypeError,
        match=r"^Returning.to_downstream must return a string or strings, but it yielded int$",
    ):
        downstream_keys(Returning(["a", 1]), "x", cap=10)
    with pytest.raises(
        TypeError,
        match=r"^Returning.to_downstream must return a string or strings, "
        r"but it returned NoneType$",
    ):
        downstream_keys(Returning(None), "x", cap=10)


def test_the_scheduler_cap_applies_when_the_mapper_sets_none() -> None:
    fan_out = FanOutMapper(upstream_mapper=StartOfWeekMapper(), window=WeekWindow())
    assert len(downstream_keys(fan_out, KEY, cap=7)) == 7
    with pytest.raises(PartitionFanOutExceeded) as raised:
        downstream_keys(fan_out, KEY, cap=6)
    error = raised.value
    assert isinstance(error, ValueError)
    assert (error.source_key, error.count, error.cap, error.cap_source) == (KEY, 7, 6, "cap")
    assert str(error) == (
        "partition key '2024-03-13T10:42:15' maps to 7 downstream keys, more than cap=6; "
        "no Dag run is queued for it"
    )


def test_the_mappers_own_cap_overrides_the_schedulers() -> None:
    fan_out = FanOutMapper(
        upstream_mapper=StartOfMonthMapper(), window=MonthWindow(), max_downstream_keys=31
    )
    assert len(downstream_keys(fan_out, "2024-01-05T00:00:00", cap=10)) == 31
    tight = FanOutMapper(
        upstream_mapper=StartOfWeekMapper(), window=WeekWindow(), max_downstream_keys=5
    )
    with pytest.raises(
        PartitionFanOutExceeded,
        match=r"maps to 7 downstream keys, more than max_downstream_keys=5;",
    ) as raised:
        downstream_keys(tight, KEY, cap=1000)
    assert (raised.value.count, raised.value.cap) == (7, 5)
    # Duplicates count once.
    assert downstream_keys(Returning(["a", "a", "a"], max_downstream_keys=1), "x", cap=1) == ("a",)


def test_downstream_keys_lets_a_mappers_error_through() -> None:
    with pytest.raises(ValueError, match="not in allowed keys"):
        downstream_keys(AllowedKeyMapper(["a"]), "b", cap=10)


# --- partition_satisfied ------------------------------------------------------------------


def test_a_plain_mapper_is_satisfied_by_any_key() -> None:
    assert partition_satisfied(IdentityMapper(), "a", set()) == PartitionSatisfaction(
        satisfied=False, unreachable=False, unreachable_reason=None
    )
    assert partition_satisfied(StartOfDayMapper(), "2024-03-13", {"2024-03-13T10:00:00"}) == (
        PartitionSatisfaction(satisfied=True, unreachable=False, unreachable_reason=None)
    )
    assert partition_satisfied(IdentityMapper(), "a", frozenset({"zzz"})).satisfied


def test_a_rollup_asks_its_wait_policy() -> None:
    hourly = [f"2024-03-13T{h:02d}" for h in range(24)]
    rollup = RollupMapper(
        upstream_mapper=StartOfDayMapper(input_format="%Y-%m-%dT%H"), window=DayWindow()
    )
    assert not partition_satisfied(rollup, "2024-03-13", set(hourly[:23])).satisfied
    assert partition_satisfied(rollup, "2024-03-13", set(hourly)).satisfied
    assert not partition_satisfied(rollup, "2024-03-14", set(hourly)).satisfied
    most = RollupMapper(
        upstream_mapper=StartOfDayMapper(input_format="%Y-%m-%dT%H"),
        window=DayWindow(),
        wait_policy=MinimumCount(-2),
    )
    assert partition_satisfied(most, "2024-03-13", set(hourly[:22])).satisfied
    assert not partition_satisfied(most, "2024-03-13", set(hourly[:21])).satisfied
    too_many = RollupMapper(
        upstream_mapper=StartOfDayMapper(input_format="%Y-%m-%dT%H"),
        window=DayWindow(),
        wait_policy=MinimumCount(25),
    )
    assert partition_satisfied(too_many, "2024-03-13", set(hourly)) == PartitionSatisfaction(
        satisfied=False,
        unreachable=True,
        unreachable_reason=(
            "wait policy MinimumCount(n=25) can never be satisfied given the window's "
            "cardinality 24"
        ),
    )


def test_partition_satisfied_lets_a_mappers_error_through() -> None:
    rollup = RollupMapper(upstream_mapper=StartOfDayMapper(), window=DayWindow())
    with pytest.raises(ValueError, match="does not match format"):
        partition_satisfied(rollup, "13/03/2024", set())


# --- resolve_partition_date ---------------------------------------------------------------


def test_no_temporal_mapper_falls_back_to_the_carried_date() -> None:
    carried = datetime(2024, 3, 13, 9, tzinfo=UTC)
    assert resolve_partition_date([IdentityMapper(), IdentityMapper()], "k", carried) is carried
    assert resolve_partition_date([], "k", carried) is carried
    assert resolve_partition_date([IdentityMapper()], "k", None) is None


def test_one_temporal_anchor_wins_over_the_carried_date() -> None:
    carried = datetime(2020, 1, 1, tzinfo=UTC)
    assert resolve_partition_date(
        [IdentityMapper(), StartOfDayMapper()], "2024-03-13", carried
    ) == datetime(2024, 3, 13, tzinfo=UTC)


def test_anchors_that_are_the_same_instant_agree() -> None:
    utc = datetime(2024, 3, 13, 4, tzinfo=UTC)
    local = datetime(2024, 3, 13, tzinfo=NEW_YORK)
    assert resolve_partition_date([Anchored(utc), Anchored(local)], "k", None) is utc
    assert resolve_partition_date(
        (mapper for mapper in [StartOfDayMapper(), StartOfDayMapper(input_format="%Y")]),
        "2024-03-13",
        None,
    ) == datetime(2024, 3, 13, tzinfo=UTC)
    # A repeated wall time is compared as the instant it is, not by its wall clock.
    first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    second = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)
    assert resolve_partition_date([Anchored(first), Anchored(second)], "k", None) is None
    assert (
        resolve_partition_date(
            [Anchored(second), Anchored(datetime(2024, 11, 3, 6, 30, tzinfo=UTC))], "k", None
        )
        is second
    )


def test_conflicting_anchors_give_no_date() -> None:
    mappers: list[PartitionMapper] = [
        StartOfDayMapper(),
        StartOfDayMapper(timezone="America/New_York"),
    ]
    carried = datetime(2024, 3, 13, tzinfo=UTC)
    assert resolve_partition_date(mappers, "2024-03-13", carried) is None
    naive_and_aware = [Anchored(datetime(2024, 3, 13)), Anchored(datetime(2024, 3, 13, tzinfo=UTC))]
    assert resolve_partition_date(naive_and_aware, "k", None) is None


def test_a_mapper_that_fails_gives_no_date() -> None:
    carried = datetime(2024, 3, 13, tzinfo=UTC)
    mappers: Iterable[PartitionMapper] = [StartOfDayMapper(), Anchored(RuntimeError("broken"))]
    assert resolve_partition_date(mappers, "2024-03-13", carried) is None
    # A key the mapper cannot decode fails the same way.
    assert resolve_partition_date([StartOfWeekMapper()], "2024-03-11", carried) is None
