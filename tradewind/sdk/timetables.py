"""Timetables: schedules written as objects, and the API for users' own, as in Airflow 3.

A cron string means ``CronTriggerTimetable`` and a ``timedelta`` ``DeltaTriggerTimetable``, as
in Airflow 3 (``TRADEWIND_CREATE_CRON_DATA_INTERVALS=true`` and
``TRADEWIND_CREATE_DELTA_DATA_INTERVALS=true`` choose the data interval timetables instead, as
Airflow's ``[scheduler] create_cron_data_intervals`` and ``create_delta_data_intervals`` do).

A user's timetable subclasses :class:`Timetable` and implements ``next_dagrun_info`` and
``infer_manual_data_interval`` (and ``serialize``/``deserialize`` when it has arguments), in a
module of the plugins folder (``--plugins-folder``), which the DAG processor, the scheduler and
the executors share: the scheduler loads the class from there to decide when runs are due.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple

from croniter import CroniterBadDateError, croniter

from core import timetables as rules
from core.partitions import IdentityMapper, PartitionMapper
from protos.dag.v1 import message_pb2 as dag_pb2
from tradewind.sdk.partition_mappers import partitioning_message
from tradewind.sdk.plugins import plugin_reference
from tradewind.sdk.schedule import CRON_FIELDS, CRON_PRESETS, zone_name
from tradewind_common import config as cfg

if TYPE_CHECKING:
    from tradewind.sdk.assets import BaseAsset


class DataInterval(NamedTuple):
    """A data interval: ``start`` to ``end`` (aware datetimes)."""

    start: datetime
    end: datetime

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """The interval of one instant."""
        return cls(at, at)


class TimeRestriction(NamedTuple):
    """What bounds a DAG's runs: its start date, its end date, and catchup."""

    earliest: datetime | None
    latest: datetime | None
    catchup: bool


class DagRunInfo(NamedTuple):
    """A run a timetable asks for: when it may be created, the interval it covers, its partition."""

    run_after: datetime
    data_interval: DataInterval | None
    partition_date: datetime | None = None
    partition_key: str | None = None

    @classmethod
    def exact(cls, at: datetime) -> DagRunInfo:
        """A run on an exact time."""
        return cls(at, DataInterval.exact(at))

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> DagRunInfo:
        """A run covering ``start`` to ``end``, created when it ends."""
        return cls(end, DataInterval(start, end))

    @property
    def logical_date(self) -> datetime | None:
        """The run's logical date: the start of its interval."""
        return self.data_interval.start if self.data_interval else None


class Timetable:
    """The base of every timetable; subclass it for a timetable of your own.

    Implement ``next_dagrun_info`` (the run after the last scheduled one) and
    ``infer_manual_data_interval`` (a manual run's interval); a timetable with arguments also
    implements ``serialize`` (a JSON-encodable dict) and the class method ``deserialize``.
    """

    #: Shown as the DAG's schedule.
    description: str = ""
    #: Whether it makes runs again and again (False for None and "@once").
    periodic: bool = True
    #: Whether it makes runs by itself at all (False for None).
    can_be_scheduled: bool = True
    #: The most runs of the DAG active at once (1 for "@continuous"); None: max_active_runs.
    active_runs_limit: int | None = None
    #: Whether its runs are for partitions (CronPartitionTimetable, PartitionedAssetTimetable).
    partitioned: bool = False
    #: Whether the partitions are named when runs are triggered or tasks run
    #: (PartitionedAtRuntime).
    partitioned_at_runtime: bool = False

    @property
    def summary(self) -> str:
        """A short description, shown as the DAG's schedule."""
        return self.description or type(self).__name__

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        """The run after ``last_automated_data_interval`` (None: the first), or None."""
        raise NotImplementedError(f"{type(self).__name__} does not implement next_dagrun_info")

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand at ``run_after``."""
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        """The timetable's arguments, JSON-encodable, for ``deserialize``."""
        return {}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """The timetable ``serialize`` described."""
        return cls()

    def validate(self) -> None:
        """Raise ``ValueError`` when the timetable's arguments cannot work."""


class BuiltInTimetable(Timetable):
    """A timetable whose rules are Tradewind's own (``core.timetables``)."""

    #: Whether a DAG on it needs a start date (the data interval timetables do).
    needs_start_date = False
    #: The time zone it reads its expression in; "" for the DAG's.
    timezone_name = ""
    #: Whether it reads a wall clock (a cron expression), so that its zone matters.
    reads_wall_clock = False

    def rules(self, timezone: str) -> rules.Timetable:
        """Its rules, in the DAG's time zone unless it names its own."""
        raise NotImplementedError

    def fill(self, message: dag_pb2.Schedule) -> None:
        """Set its kind on the contract's ``Schedule``."""
        raise NotImplementedError

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        """See :meth:`Timetable.next_dagrun_info`."""
        last = last_automated_data_interval
        run = self.rules(self.timezone_name or "UTC").next_run(
            rules.DataInterval(last.start, last.end) if last is not None else None,
            rules.TimeRestriction(restriction.earliest, restriction.latest, restriction.catchup),
            datetime.now(UTC),
        )
        if run is None:
            return None
        return DagRunInfo(run.create_after, DataInterval(run.start, run.end))

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """See :meth:`Timetable.infer_manual_data_interval`."""
        run = self.rules(self.timezone_name or "UTC").manual_interval(run_after)
        return DataInterval(run.start, run.end)


class NullTimetable(BuiltInTimetable):
    """``schedule=None``: runs only when triggered."""

    description = "Never, external triggers only"
    periodic = False
    can_be_scheduled = False

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return "None"

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.Manual()

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        pass


class OnceTimetable(BuiltInTimetable):
    """``schedule="@once"``: one run, at the start date."""

    description = "Once, as soon as possible"
    periodic = False

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return "@once"

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.Once()

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        message.once = True


class ContinuousTimetable(BuiltInTimetable):
    """``schedule="@continuous"``: one run after another, one at a time."""

    description = "As frequently as possible, but only one run at a time."
    active_runs_limit = 1

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return "@continuous"

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.Continuous()

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        message.continuous = True


def _expression(cron: str) -> str:
    expression = CRON_PRESETS.get(cron.strip(), cron.strip())
    if expression.startswith("@"):
        known = ", ".join(CRON_PRESETS)
        raise ValueError(f"unknown cron preset {cron!r}; known presets: {known}")
    if len(expression.split()) != CRON_FIELDS or not croniter.is_valid(expression):
        raise ValueError(f"invalid cron expression {cron!r} (expected five fields)")
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError as err:
        raise ValueError(f"cron expression {cron!r} never ticks ({err})") from err
    return " ".join(expression.split())


def _positive(delta: timedelta, what: str) -> timedelta:
    if not isinstance(delta, timedelta):
        raise TypeError(f"{what} must be a timedelta, got {type(delta).__name__}")
    if delta <= timedelta(0):
        raise ValueError(f"{what} must be positive, got {delta}")
    return delta


def _interval(interval: timedelta) -> timedelta:
    if not isinstance(interval, timedelta) or interval < timedelta(0):
        raise ValueError(f"interval must be a timedelta of zero or more, got {interval!r}")
    return interval


def _zone(timezone: str | tzinfo | None) -> str:
    if timezone is None:
        return ""
    if isinstance(timezone, str):
        return timezone
    return zone_name(timezone)


class CronDataIntervalTimetable(BuiltInTimetable):
    """The intervals between the ticks of a cron expression, each run created at its end.

    Args:
        cron: a five-field cron expression or a preset ("@daily").
        timezone: the zone the expression is read in (an IANA name or a tzinfo); the DAG's
            start date's zone by default.

    """

    reads_wall_clock = True

    needs_start_date = True

    def __init__(self, cron: str, timezone: str | tzinfo | None = None) -> None:
        self.expression = _expression(cron)
        self.timezone_name = _zone(timezone)
        self.cron = cron

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return self.cron

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.CronIntervals(self.expression, self.timezone_name or timezone)

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        message.cron = self.expression

    def __repr__(self) -> str:
        return f"CronDataIntervalTimetable({self.expression!r}, timezone={self.timezone_name!r})"


class DeltaDataIntervalTimetable(BuiltInTimetable):
    """Intervals of a fixed length from the start date, each run created at its end.

    Args:
        delta: the length of each interval, positive.

    """

    needs_start_date = True

    def __init__(self, delta: timedelta) -> None:
        self.delta = _positive(delta, "schedule interval")

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return str(self.delta)

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.DeltaIntervals(self.delta)

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        message.interval.FromTimedelta(self.delta)

    def __repr__(self) -> str:
        return f"DeltaDataIntervalTimetable({self.delta!r})"


class CronTriggerTimetable(BuiltInTimetable):
    """A run at each tick of a cron expression, its logical date the tick.

    Airflow 3's meaning of ``schedule="<cron>"``.

    Args:
        cron: a five-field cron expression or a preset.
        timezone: the zone the expression is read in.
        interval: the length of each run's data interval, ending at the tick (zero: the
            interval is the tick itself, and so is the logical date).
        run_immediately: for a DAG without a start date, whether the first run is the latest
            past tick: True always, a timedelta when the tick is at most so long ago, False or
            None (as Airflow's scheduler treats both) when it is at most a tenth of the time
            between ticks, and at least five minutes, ago.

    """

    reads_wall_clock = True

    def __init__(
        self,
        cron: str,
        *,
        timezone: str | tzinfo,
        interval: timedelta = timedelta(),
        run_immediately: bool | timedelta | None = False,
    ) -> None:
        self.expression = _expression(cron)
        self.cron = cron
        self.timezone_name = _zone(timezone)
        self.interval = _interval(interval)
        if not isinstance(run_immediately, bool | timedelta | None):
            raise TypeError("run_immediately must be a bool, a timedelta or None")
        self.run_immediately = run_immediately

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return self.cron

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.CronTriggers(
            self.expression, self.timezone_name or timezone, self.interval, self.run_immediately
        )

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        _fill_cron_trigger(message.cron_trigger, [self.expression], self)

    def __repr__(self) -> str:
        return (
            f"CronTriggerTimetable({self.expression!r}, timezone={self.timezone_name!r},"
            f" interval={self.interval!r}, run_immediately={self.run_immediately!r})"
        )


def _fill_cron_trigger(
    message: dag_pb2.CronTrigger,
    expressions: Iterable[str],
    source: CronTriggerTimetable | MultipleCronTriggerTimetable,
) -> None:
    message.expressions.extend(expressions)
    message.interval.FromTimedelta(source.interval)
    if isinstance(source.run_immediately, bool):
        message.run_immediately = source.run_immediately
    elif isinstance(source.run_immediately, timedelta):
        message.run_immediately_within.FromTimedelta(source.run_immediately)


class MultipleCronTriggerTimetable(BuiltInTimetable):
    """A run at each tick of any of several cron expressions (one when several tick at once).

    Args:
        crons: the expressions, at least one.
        timezone, interval, run_immediately: as for :class:`CronTriggerTimetable`, shared.

    """

    reads_wall_clock = True

    def __init__(
        self,
        *crons: str,
        timezone: str | tzinfo,
        interval: timedelta = timedelta(),
        run_immediately: bool | timedelta | None = False,
    ) -> None:
        if not crons:
            raise ValueError("cron expression required")
        self.triggers = [
            CronTriggerTimetable(
                cron, timezone=timezone, interval=interval, run_immediately=run_immediately
            )
            for cron in crons
        ]
        self.timezone_name = _zone(timezone)
        self.interval = interval
        self.run_immediately = run_immediately

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return ", ".join(t.summary for t in self.triggers)

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.MultipleCronTriggers(
            tuple(
                rules.CronTriggers(
                    t.expression, t.timezone_name or timezone, t.interval, t.run_immediately
                )
                for t in self.triggers
            )
        )

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        _fill_cron_trigger(message.cron_trigger, [t.expression for t in self.triggers], self)


class DeltaTriggerTimetable(BuiltInTimetable):
    """A run every ``delta`` from the start date, its logical date the run's time.

    Airflow 3's meaning of ``schedule=timedelta(...)``.

    Args:
        delta: the time between runs, positive.
        interval: the length of each run's data interval, ending at the run's time.

    """

    def __init__(self, delta: timedelta, *, interval: timedelta = timedelta()) -> None:
        self.delta = _positive(delta, "schedule interval")
        self.interval = _interval(interval)

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return str(self.delta)

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.DeltaTriggers(self.delta, self.interval)

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        message.delta_trigger.delta.FromTimedelta(self.delta)
        message.delta_trigger.interval.FromTimedelta(self.interval)

    def __repr__(self) -> str:
        return f"DeltaTriggerTimetable({self.delta!r}, interval={self.interval!r})"


class EventsTimetable(BuiltInTimetable):
    """A run at each of a list of moments.

    Args:
        event_dates: the moments (a naive one is taken as UTC).
        restrict_to_events: a manual run takes the latest past event's date, not its own.
        presorted: the dates are already sorted.
        description: shown as the schedule; by default the number of events and the first.

    """

    def __init__(
        self,
        event_dates: Iterable[datetime],
        restrict_to_events: bool = False,
        presorted: bool = False,
        description: str | None = None,
    ) -> None:
        dates = [d if d.tzinfo is not None else d.replace(tzinfo=UTC) for d in event_dates]
        self.event_dates = dates if presorted else sorted(dates)
        self.restrict_to_events = restrict_to_events
        if description is None:
            if self.event_dates:
                first = self.event_dates[0].isoformat()
                self.description = f"{len(self.event_dates)} events, first at {first}"
            else:
                self.description = "No events"
            self._summary = f"{len(self.event_dates)} events"
        else:
            self.description = self._summary = description

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return self._summary

    def rules(self, timezone: str) -> rules.Timetable:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.Events(tuple(self.event_dates), self.restrict_to_events)

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        for moment in self.event_dates:
            message.events.event_dates.add().FromDatetime(moment.astimezone(UTC))
        message.events.restrict_to_events = self.restrict_to_events


class CronPartitionTimetable(CronTriggerTimetable):
    """A run at each tick of a cron expression, for the partition its date names.

    Args:
        cron: a five-field cron expression or a preset.
        timezone: the zone the expression is read in, and the partition key written in.
        run_offset: which tick's partition a run is for: 0 its own, 1 the next, -1 the one
            before, and so on.
        run_immediately: as for :class:`CronTriggerTimetable` (False by default).
        key_format: strftime format of the partition key, from the partition's date.

    """

    partitioned = True

    def __init__(
        self,
        cron: str,
        *,
        timezone: str | tzinfo,
        run_offset: int | None = None,
        run_immediately: bool | timedelta = False,
        key_format: str = r"%Y-%m-%dT%H:%M:%S",
    ) -> None:
        super().__init__(cron, timezone=timezone, run_immediately=run_immediately)
        if not isinstance(run_offset, int | None) or isinstance(run_offset, bool):
            raise ValueError("Run offset other than integer not supported yet.")
        self.run_offset = run_offset or 0
        if not isinstance(key_format, str) or not key_format:
            raise ValueError("key_format must be a non-empty strftime format")
        self.key_format = key_format

    def rules(self, timezone: str) -> rules.CronPartitions:
        """See :meth:`BuiltInTimetable.rules`."""
        return rules.CronPartitions(
            self.expression,
            self.timezone_name or timezone,
            run_immediately=self.run_immediately,
            run_offset=self.run_offset,
            key_format=self.key_format,
        )

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        partition = message.cron_partition
        partition.expression = self.expression
        partition.run_offset = self.run_offset
        partition.key_format = self.key_format
        if isinstance(self.run_immediately, bool):
            partition.run_immediately = self.run_immediately
        elif isinstance(self.run_immediately, timedelta):
            partition.run_immediately_within.FromTimedelta(self.run_immediately)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        """See :meth:`Timetable.next_dagrun_info`; the run names its partition."""
        info = super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
        if info is None or info.data_interval is None:
            return info
        key, date = self.rules("UTC").partition_of(
            rules.DataInterval(info.data_interval.start, info.data_interval.end)
        )
        return info._replace(partition_date=date, partition_key=key)

    def resolve_partition_date(self, partition_key: str | None) -> datetime | None:
        """The date a partition key names (ValueError when it does not fit ``key_format``)."""
        if partition_key is None:
            return None
        return self.rules("UTC").decode_key(partition_key)

    def __repr__(self) -> str:
        return (
            f"CronPartitionTimetable({self.expression!r}, timezone={self.timezone_name!r},"
            f" run_offset={self.run_offset!r}, key_format={self.key_format!r})"
        )


class PartitionedAtRuntime(NullTimetable):
    """Never scheduled; runs name their partition when triggered, tasks their events'.

    A run's ``partition_key`` is given when it is triggered (``tradewind dags trigger
    --partition-key``); a task names the partitions its events update with
    ``outlet_events[asset].add_partitions(...)``.
    """

    description = "Never, partition key(s) set at runtime"
    partitioned_at_runtime = True

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return "PartitionedAtRuntime"

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`."""
        message.partitioned_at_runtime = True

    def __repr__(self) -> str:
        return "PartitionedAtRuntime()"


class PartitionedAssetTimetable(NullTimetable):
    r"""Run once per partition of the assets: their events' partition keys, mapped to this DAG's.

    Args:
        assets: an asset, a condition (``a & b``, ``a | b``) or a list of assets (all of them).
        partition_mapper_config: the mapper of particular assets (keys: assets or
            ``Asset.ref(...)``).
        default_partition_mapper: the mapper of the others; ``IdentityMapper()`` by default.

    """

    description = "Partitioned Asset"
    partitioned = True

    def __init__(
        self,
        *,
        assets: BaseAsset | list[BaseAsset],
        partition_mapper_config: Mapping[BaseAsset, PartitionMapper] | None = None,
        default_partition_mapper: PartitionMapper | None = None,
    ) -> None:
        from tradewind.sdk.assets import AssetAlias, BaseAsset, normalise_schedule_assets

        self.asset_condition = normalise_schedule_assets(assets)
        self.partition_mapper_config = dict(partition_mapper_config or {})
        self.default_partition_mapper = default_partition_mapper or IdentityMapper()
        for key, mapper in self.partition_mapper_config.items():
            if not isinstance(key, BaseAsset) or isinstance(key, AssetAlias):
                # Airflow warns and ignores an alias; an error says so where it is written.
                raise TypeError(
                    "partition_mapper_config keys must be assets, Asset.ref(...) or conditions"
                    f" of them (a partitioned asset alias is not supported), got {key!r}"
                )
            if not isinstance(mapper, PartitionMapper):
                raise TypeError(f"the partition mapper of {key!r} is not a PartitionMapper")
        if not isinstance(self.default_partition_mapper, PartitionMapper):
            raise TypeError("default_partition_mapper must be a PartitionMapper")

    def _entries(self) -> list[tuple[str, str, PartitionMapper]]:
        """(name, uri, mapper) of each asset and reference a key names (a condition: each)."""
        entries = []
        for key, mapper in self.partition_mapper_config.items():
            entries += [(asset.name, asset.uri, mapper) for asset in key.iter_assets()]
            entries += [
                (getattr(ref, "name", "") or "", getattr(ref, "uri", "") or "", mapper)
                for ref in key.iter_asset_refs()
            ]
        return entries

    def partitioning(self) -> dag_pb2.AssetPartitioning:
        """The contract's message of its mappers."""
        return partitioning_message(self.default_partition_mapper, self._entries())

    def get_partition_mapper(self, *, name: str = "", uri: str = "") -> PartitionMapper:
        """The mapper of the asset with this name or URI, as the scheduler looks it up."""
        by_name = {n: m for n, _, m in self._entries() if n}
        by_uri = {u: m for _, u, m in self._entries() if u}
        if name in by_name:
            return by_name[name]
        if uri in by_uri:
            return by_uri[uri]
        return self.default_partition_mapper

    def fill(self, message: dag_pb2.Schedule) -> None:
        """See :meth:`BuiltInTimetable.fill`: no time kind; the DAG adds its assets."""
        message.partitioning.CopyFrom(self.partitioning())

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return self.description

    def __repr__(self) -> str:
        return (
            f"PartitionedAssetTimetable(assets={self.asset_condition!r},"
            f" default_partition_mapper={self.default_partition_mapper!r})"
        )


class AssetOrTimeSchedule(Timetable):
    """Run on a timetable, and also whenever an asset condition holds.

    Args:
        timetable: the time-based part.
        assets: an asset, a condition (``a & b``, ``a | b``) or a list of assets (all of them).

    """

    def __init__(self, *, timetable: Timetable, assets: BaseAsset | list[BaseAsset]) -> None:
        from tradewind.sdk.assets import normalise_schedule_assets

        if isinstance(timetable, AssetOrTimeSchedule) or not isinstance(timetable, Timetable):
            raise TypeError(
                "AssetOrTimeSchedule's timetable must be a time-based timetable such as"
                f" CronTriggerTimetable, got {timetable!r}"
            )
        self.timetable = timetable
        self.asset_condition = normalise_schedule_assets(assets)
        self.description = f"Triggered by assets or {timetable.description}"

    @property
    def summary(self) -> str:
        """See :attr:`Timetable.summary`."""
        return f"Asset or {self.timetable.summary}"

    def __repr__(self) -> str:
        return f"AssetOrTimeSchedule(timetable={self.timetable!r}, assets={self.asset_condition!r})"


def _setting(setting: cfg.Setting[bool]) -> bool:
    text = os.environ.get(setting.env, "")
    if not text.strip():
        return setting.default
    try:
        return cfg.parse_bool(text)
    except ValueError as err:
        raise ValueError(f"{setting.env}: {err}, not {text!r}") from err


def cron_timetable(cron: str, timezone: str) -> Timetable:
    """What ``schedule="<cron>"`` means.

    ``CronTriggerTimetable``, or with ``TRADEWIND_CREATE_CRON_DATA_INTERVALS=true``
    ``CronDataIntervalTimetable``.
    """
    if _setting(cfg.CREATE_CRON_DATA_INTERVALS):
        return CronDataIntervalTimetable(cron, timezone)
    return CronTriggerTimetable(cron, timezone=timezone)


def delta_timetable(delta: timedelta) -> Timetable:
    """What ``schedule=timedelta(...)`` means.

    ``DeltaTriggerTimetable``, or with ``TRADEWIND_CREATE_DELTA_DATA_INTERVALS=true``
    ``DeltaDataIntervalTimetable``.
    """
    if _setting(cfg.CREATE_DELTA_DATA_INTERVALS):
        return DeltaDataIntervalTimetable(delta)
    return DeltaTriggerTimetable(delta)


def schedule_message(timetable: Timetable) -> dag_pb2.Schedule:
    """The contract's ``Schedule`` of a timetable (its kind; the caller adds the rest).

    Raises:
        ValueError: a user's timetable that is not installed in the plugins folder, or whose
            ``serialize()`` is not JSON-encodable.

    """
    message = dag_pb2.Schedule()
    if isinstance(timetable, BuiltInTimetable):
        timetable.fill(message)
        return message
    class_path, serialized = plugin_reference(timetable, "timetable")
    message.custom.class_path = class_path
    message.custom.serialized_json = serialized
    return message
