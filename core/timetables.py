"""When scheduled runs are due: the rules of every built-in timetable, as Airflow 3 has them.

Pure functions of the schedule, the DAG's dates and the time passed in. A timetable answers
one question, :meth:`Timetable.next_run`: after the last scheduled run (or none), under the
DAG's start date, end date and catchup, which run comes next, with its data interval and the
time it may be created. A run's logical date is the start of its data interval.

Two families exist, as in Airflow. *Data interval* timetables (``CronIntervals``,
``DeltaIntervals``) make back-to-back intervals and create each run when its interval ends.
*Trigger* timetables (``CronTriggers``, ``DeltaTriggers``, ``MultipleCronTriggers``) create a
run at each tick, its logical date the tick itself (less an optional interval). Cron
expressions are evaluated on the wall clock of the schedule's time zone: across a DST change
a daily run stays at the same local time, a skipped local time moves to the next valid one,
and a repeated local time runs once.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from core.partitions import make_aware

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class DataInterval:
    """One scheduled run: its data interval, and when it may be created."""

    start: datetime
    end: datetime
    #: When the run may be created; None for the interval's end (every built-in timetable).
    run_after: datetime | None = None

    @property
    def logical_date(self) -> datetime:
        """The run's logical date: the start of its interval."""
        return self.start

    @property
    def create_after(self) -> datetime:
        """When the run may be created."""
        return self.run_after if self.run_after is not None else self.end


@dataclass(frozen=True)
class TimeRestriction:
    """What bounds a DAG's scheduled runs: its start date, its end date, and catchup."""

    earliest: datetime | None
    latest: datetime | None
    catchup: bool


class Timetable(ABC):
    """A schedule's rules."""

    #: The most runs of the DAG that may be active at once (1 for @continuous); None: the
    #: DAG's max_active_runs decides.
    active_runs_limit: int | None = None
    #: Whether a run's interval is computed when it is created rather than ahead (its end is
    #: the moment of creation, as for @continuous).
    computed_at_creation: bool = False

    @abstractmethod
    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """The run after ``last`` (None: the first), or None when the schedule has no more.

        Args:
            last: the data interval of the last scheduled run, or None.
            restriction: the DAG's start date, end date and catchup.
            now: the current time (aware).

        """

    def manual_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand at ``run_after``."""
        return DataInterval(run_after, run_after)

    def partition_of(self, run: DataInterval) -> tuple[str, datetime] | None:
        """The partition (key, date) a scheduled run is for; None for a timetable without."""
        return None


class Manual(Timetable):
    """``schedule=None``: runs only when triggered."""

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """See :meth:`Timetable.next_run`."""
        return None


class Once(Timetable):
    """``"@once"``: one run, at the start date (or at once without one), whatever catchup."""

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """See :meth:`Timetable.next_run`."""
        if last is not None:
            return None
        at = restriction.earliest or now
        if restriction.latest is not None and at > restriction.latest:
            return None
        return DataInterval(at, at)


class Continuous(Timetable):
    """``"@continuous"``: one run after another, each covering the time since the last."""

    active_runs_limit = 1
    computed_at_creation = True

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """See :meth:`Timetable.next_run`."""
        start_date = restriction.earliest or now
        if last is None:
            start, end = start_date, max(start_date, now)
        elif last.end > now:  # the start date lies ahead
            start, end = start_date, start_date + (last.end - last.start)
        else:
            start, end = last.end, now
        if restriction.latest is not None and end > restriction.latest:
            return None
        return DataInterval(start, end)


# -- the two ways a schedule steps: cron ticks and fixed deltas ----------------------------


@dataclass(frozen=True)
class _Cron:
    expression: str
    timezone: str = "UTC"

    def get_next(self, current: datetime) -> datetime:
        return cron_next(self.expression, current, self.timezone)

    def get_prev(self, current: datetime) -> datetime:
        return cron_at_or_before(self.expression, current - _TICK, self.timezone)

    def align_to_next(self, current: datetime) -> datetime:
        return cron_at_or_after(self.expression, current, self.timezone)

    def align_to_prev(self, current: datetime) -> datetime:
        return cron_at_or_before(self.expression, current, self.timezone)


@dataclass(frozen=True)
class _Delta:
    delta: timedelta

    def get_next(self, current: datetime) -> datetime:
        return current + self.delta

    def get_prev(self, current: datetime) -> datetime:
        return current - self.delta

    def align_to_next(self, current: datetime) -> datetime:
        return current

    def align_to_prev(self, current: datetime) -> datetime:
        return current


# -- data interval timetables ---------------------------------------------------------------


class _DataIntervals(Timetable):
    """Back-to-back intervals; each run is created when its interval has ended."""

    @property
    def steps(self) -> _Cron | _Delta:
        """How the schedule steps: cron ticks or a fixed delta."""
        raise NotImplementedError

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        raise NotImplementedError

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        earliest = restriction.earliest
        if not restriction.catchup:
            earliest = self._skip_to_latest(earliest, now)
        elif earliest is not None:
            earliest = self.steps.align_to_next(earliest)
        if last is None:
            if earliest is None:
                return None
            start = earliest
        else:
            start = self.steps.align_to_prev(last.end)
            if earliest is not None:
                start = max(start, earliest)
            if start <= last.start:
                start = self.steps.get_next(start)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DataInterval(start, self.steps.get_next(start))


@dataclass(frozen=True, eq=False)
class CronIntervals(_DataIntervals):
    """``CronDataIntervalTimetable``: the intervals between a cron expression's ticks."""

    expression: str
    timezone: str = "UTC"

    @property
    def steps(self) -> _Cron:
        """How the schedule steps."""
        return _Cron(self.expression, self.timezone or "UTC")

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        # The newest interval that has ended by now (the one ending right now, on a tick).
        last_start = self.steps.get_prev(now)
        if self.steps.get_next(last_start) == now:
            start = last_start
        else:
            start = self.steps.get_prev(last_start)
        return start if earliest is None else max(start, self.steps.align_to_next(earliest))

    def manual_interval(self, run_after: datetime) -> DataInterval:
        """See :meth:`Timetable.manual_interval`."""
        end = self.steps.align_to_prev(run_after)
        return DataInterval(self.steps.get_prev(end), end)


@dataclass(frozen=True, eq=False)
class DeltaIntervals(_DataIntervals):
    """``DeltaDataIntervalTimetable``: intervals of a fixed length from the start date."""

    delta: timedelta

    @property
    def steps(self) -> _Delta:
        """How the schedule steps."""
        return _Delta(self.delta)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> datetime:
        # As Airflow: the newest interval ended by now on the grid of the delta since the
        # epoch, not since the start date.
        seconds = self.delta.total_seconds()
        floored = now.timestamp() - math.fmod(now.timestamp(), seconds)
        start = datetime.fromtimestamp(floored, tz=UTC) - self.delta
        return start if earliest is None else max(start, earliest)

    def manual_interval(self, run_after: datetime) -> DataInterval:
        """See :meth:`Timetable.manual_interval`."""
        return DataInterval(run_after - self.delta, run_after)


# -- trigger timetables ---------------------------------------------------------------------

#: ``run_immediately=None``: run the latest past tick when it is at most this share of the
#: time between two ticks ago (and at least five minutes).
_RUN_IMMEDIATELY_SHARE = 10
_RUN_IMMEDIATELY_FLOOR = timedelta(minutes=5)


class _Triggers(Timetable):
    """A run at each tick, its data interval the ``interval`` before the tick."""

    interval: timedelta

    @property
    def steps(self) -> _Cron | _Delta:
        """How the schedule steps: cron ticks or a fixed delta."""
        raise NotImplementedError

    def _first_run(self, now: datetime) -> datetime:
        raise NotImplementedError

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        if restriction.catchup:
            if last is not None:
                tick = self.steps.get_next(last.end)
            elif restriction.earliest is None:
                tick = self._first_run(now)
            else:
                tick = self.steps.align_to_next(restriction.earliest)
        else:
            candidates = [self.steps.align_to_prev(now)]
            if last is not None:
                candidates.append(self.steps.get_next(last.end))
            elif restriction.earliest is None:
                candidates.append(self._first_run(now))
            if restriction.earliest is not None:
                candidates.append(self.steps.align_to_next(restriction.earliest))
            tick = max(candidates)
        if restriction.latest is not None and restriction.latest < tick:
            return None
        return DataInterval(tick - self.interval, tick)

    def manual_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval(run_after - self.interval, run_after)


@dataclass(frozen=True, eq=False)
class CronTriggers(_Triggers):
    """``CronTriggerTimetable``: a run at each tick of a cron expression.

    ``run_immediately`` decides, for a DAG without a start date, whether the first run is the
    latest past tick: True always, a timedelta when that tick is at most so long ago, False
    and None (as Airflow's scheduler does) when it is at most a tenth of the time between
    ticks (and at least five minutes) ago.
    """

    expression: str
    timezone: str = "UTC"
    interval: timedelta = timedelta()
    run_immediately: bool | timedelta | None = False

    @property
    def steps(self) -> _Cron:
        """How the schedule steps."""
        return _Cron(self.expression, self.timezone or "UTC")

    def _first_run(self, now: datetime) -> datetime:
        past = self.steps.align_to_prev(now)
        following = self.steps.align_to_next(now)
        if self.run_immediately is True:
            return past
        if isinstance(self.run_immediately, timedelta):
            buffer = self.run_immediately
        else:
            # None, and False too: Airflow's code treats both the same way (its docs say
            # False waits for the next tick; its scheduler does not).
            buffer = max((following - past) / _RUN_IMMEDIATELY_SHARE, _RUN_IMMEDIATELY_FLOOR)
        return past if now - past <= buffer else following


@dataclass(frozen=True, eq=False)
class CronPartitions(CronTriggers):
    """``CronPartitionTimetable``: a run at each tick, for a partition named by a date.

    The partition's date is the tick, or ``run_offset`` ticks after it (before it when
    negative); its key is that date on the schedule's wall clock, formatted by ``key_format``.
    """

    run_offset: int = 0
    key_format: str = "%Y-%m-%dT%H:%M:%S"

    def partition_of(self, run: DataInterval) -> tuple[str, datetime]:
        """The partition of the run at a tick."""
        date = run.end
        step = self.steps.get_next if self.run_offset > 0 else self.steps.get_prev
        for _ in range(abs(self.run_offset)):
            date = step(date)
        return self.format_key(date), date

    def format_key(self, date: datetime) -> str:
        """A partition date's key: its wall-clock reading in the schedule's zone."""
        return date.astimezone(_zone(self.timezone)).strftime(self.key_format)

    def decode_key(self, key: str) -> datetime:
        """The date a key names (ValueError when it does not match ``key_format``)."""
        try:
            wall = datetime.strptime(key, self.key_format)
        except ValueError as err:
            raise ValueError(
                f"partition key {key!r} does not match the timetable's key_format "
                f"{self.key_format!r}: {err}"
            ) from err
        if wall.tzinfo is not None:
            return wall.astimezone(UTC)
        # As Airflow reads a key (and as the partition mappers do): a repeated wall time is
        # its second occurrence, a skipped one moves forward.
        return make_aware(wall, _zone(self.timezone)).astimezone(UTC)


@dataclass(frozen=True, eq=False)
class DeltaTriggers(_Triggers):
    """``DeltaTriggerTimetable``: a run every ``delta``, from the start date (or now)."""

    delta: timedelta
    interval: timedelta = timedelta()

    @property
    def steps(self) -> _Delta:
        """How the schedule steps."""
        return _Delta(self.delta)

    def _first_run(self, now: datetime) -> datetime:
        return now


@dataclass(frozen=True, eq=False)
class MultipleCronTriggers(Timetable):
    """``MultipleCronTriggerTimetable``: a run at each tick of any of several expressions.

    When several tick at the same time, that makes one run.
    """

    triggers: Sequence[CronTriggers]

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """See :meth:`Timetable.next_run`."""
        found = [t.next_run(last, restriction, now) for t in self.triggers]
        candidates = [run for run in found if run is not None]
        if not candidates:
            return None
        if restriction.catchup:
            return min(candidates, key=lambda run: run.logical_date)
        # Without catchup: the latest run not after now, or else the earliest after it.
        past = [run for run in candidates if run.logical_date <= now]
        if past:
            return max(past, key=lambda run: run.logical_date)
        return min(candidates, key=lambda run: run.logical_date)

    def manual_interval(self, run_after: datetime) -> DataInterval:
        """See :meth:`Timetable.manual_interval`."""
        return min((t.manual_interval(run_after) for t in self.triggers), key=lambda run: run.start)


@dataclass(frozen=True, eq=False)
class Events(Timetable):
    """``EventsTimetable``: a run at each of a list of moments."""

    #: Sorted, aware.
    event_dates: Sequence[datetime]
    #: Whether a manual run takes the latest past event's date instead of its own.
    restrict_to_events: bool = False

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """See :meth:`Timetable.next_run`."""
        earliest = restriction.earliest
        if not restriction.catchup and (earliest is None or now > earliest):
            earliest = now
        for event in self.event_dates:
            if earliest is not None and event < earliest:
                continue
            if last is not None and event <= last.end:
                continue
            if restriction.latest is not None and event > restriction.latest:
                return None
            return DataInterval(event, event)
        return None

    def manual_interval(self, run_after: datetime) -> DataInterval:
        """See :meth:`Timetable.manual_interval`."""
        if not self.restrict_to_events or not self.event_dates:
            return DataInterval(run_after, run_after)
        past = [event for event in self.event_dates if event <= run_after]
        chosen = past[-1] if past else self.event_dates[0]
        return DataInterval(chosen, chosen)


def next_interval(
    timetable: Timetable,
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    catchup: bool,
    last: DataInterval | None,
    now: datetime,
) -> DataInterval | None:
    """The next run to create after the last scheduled one, or None when none is left.

    Args:
        timetable: the DAG's schedule.
        start_date: the DAG's start date (aware), or None.
        end_date: the DAG's end date, or None.
        catchup: True creates every missed run in turn; False skips to the latest.
        last: the data interval of the last scheduled run, or None.
        now: the current time (the state service's clock).

    """
    restriction = TimeRestriction(earliest=start_date, latest=end_date, catchup=catchup)
    return timetable.next_run(last, restriction, now)


# -- cron ticks on a time zone's wall clock -------------------------------------------------

#: More than any DST change moves a wall clock.
_DST_REACH = timedelta(hours=3)


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def _to_wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _from_wall(wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a repeated local time means its first occurrence; a skipped one maps forward.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


@functools.lru_cache(maxsize=256)
def _covers_every_hour(expression: str) -> bool:
    """Whether the expression ticks in every hour.

    Such an expression steps in absolute time, as in Airflow, so a repeated or skipped local
    hour neither drops nor doubles its ticks.
    """
    return bool(croniter(expression).expanded[1] == ["*"])


def cron_next(expression: str, after: datetime, timezone: str = "UTC") -> datetime:
    """The first cron tick strictly after ``after`` (aware UTC in, aware UTC out)."""
    zone = _zone(timezone)
    if _covers_every_hour(expression):
        naive = _to_wall(after, zone)
        scheduled: datetime = croniter(expression, naive).get_next(datetime)
        return after + (scheduled - naive)
    # A tick a DST change moved forward (02:30 on a night without 02:30 is 03:30) lies before
    # ``after``'s wall time yet may be after it: past a recent offset change, start earlier.
    earlier = after - _DST_REACH
    shifted = earlier.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset()
    ticks = croniter(expression, _to_wall(earlier if shifted else after, zone))
    while True:
        tick = _from_wall(ticks.get_next(datetime), zone)
        if tick > after:
            return tick


def cron_at_or_after(expression: str, moment: datetime, timezone: str = "UTC") -> datetime:
    """The first cron tick at or after ``moment``."""
    # A tick moved by a DST change (02:30 on a night without 02:30 is 03:30) is not on the
    # expression's wall time, so whether ``moment`` is a tick is asked of the tick before it.
    if cron_at_or_before(expression, moment, timezone) == moment:
        return moment
    return cron_next(expression, moment, timezone)


def cron_at_or_before(expression: str, moment: datetime, timezone: str = "UTC") -> datetime:
    """The last cron tick at or before ``moment``."""
    zone = _zone(timezone)
    if _covers_every_hour(expression):
        naive = _to_wall(moment, zone)
        previous: datetime = croniter(expression, naive + _TICK).get_prev(datetime)
        return moment - (naive - previous)
    ticks = croniter(expression, _to_wall(moment + _TICK, zone))
    while True:
        tick = _from_wall(ticks.get_prev(datetime), zone)
        if tick <= moment:
            return tick
