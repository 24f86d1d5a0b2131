"""Partitioned assets: Airflow 3.3's partition mappers, rollup windows and wait policies.

A *partition mapper* turns the partition key of an asset event (the source key) into the
partition key(s) of the consumer's Dag run (the target key): ``IdentityMapper`` keeps it,
``StartOfDayMapper`` truncates a timestamp key to its day, ``ProductMapper`` maps each part of
a composite key, ``FanOutMapper`` makes several target keys from one. A ``RollupMapper`` goes
the other way as well: its ``Window`` lists every source key one target key needs, and its
``WaitPolicy`` says how many of them must have arrived before the run is created.

Everything here is pure: keys and datetimes in, keys and datetimes out. Time zones are
``zoneinfo`` zones; a naive local time is made aware as Airflow does it (a repeated wall time
is read as its second occurrence, a skipped one is moved forward by the gap).

The three functions at the end are what the scheduler calls: :func:`downstream_keys` (the
target keys of an event, capped), :func:`partition_satisfied` (may a target partition's run
be created) and :func:`resolve_partition_date` (the run's ``partition_date``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, ClassVar, TypeGuard, cast
from zoneinfo import ZoneInfo

__all__ = [
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

#: Positional and keyword arguments that rebuild an object: ``type(obj)(*args, **kwargs)``.
_Arguments = tuple[tuple[Any, ...], dict[str, Any]]


def _format_call(obj: object, arguments: _Arguments) -> str:
    args, kwargs = arguments
    parts = [repr(arg) for arg in args]
    parts += [f"{name}={value!r}" for name, value in kwargs.items()]
    return f"{type(obj).__name__}({', '.join(parts)})"


class _ByConfiguration:
    """Equality, hashing and repr from :meth:`_arguments`; identity when it returns None."""

    def _arguments(self) -> _Arguments | None:
        return None

    def __eq__(self, other: object) -> bool:
        mine = self._arguments()
        if mine is None:
            return self is other
        if type(other) is not type(self):
            return NotImplemented
        return mine == other._arguments()

    def __hash__(self) -> int:
        mine = self._arguments()
        if mine is None:
            return object.__hash__(self)
        args, kwargs = mine
        return hash((type(self), args, tuple(kwargs.items())))

    def __repr__(self) -> str:
        mine = self._arguments()
        return object.__repr__(self) if mine is None else _format_call(self, mine)


# --- time zones ---------------------------------------------------------------------------


def _zone(timezone: str | tzinfo) -> tuple[str, ZoneInfo]:
    """The IANA name of ``timezone`` and its ``ZoneInfo``."""
    if isinstance(timezone, str):
        name = timezone
    elif timezone is UTC:
        name = "UTC"
    elif isinstance(timezone, ZoneInfo) and timezone.key:  # pendulum 3's zones are ZoneInfos
        name = timezone.key
    else:
        offset = timezone.utcoffset(None)
        if offset is None or offset.total_seconds() % 3600:
            raise ValueError(
                f"time zone {timezone!r} has no IANA name; use a zone name or zoneinfo.ZoneInfo"
            )
        hours = int(offset.total_seconds() // 3600)
        # The Etc zones' signs are inverted by POSIX convention: UTC+2 is Etc/GMT-2.
        name = "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    try:
        return name, ZoneInfo(name)
    except (ValueError, KeyError, OSError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err


#: Airflow's limit on a partition key, the width of its key columns.
MAX_PARTITION_KEY_LENGTH = 250
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def partition_key_problem(key: object) -> str | None:
    """What keeps ``key`` from being a partition key, or None.

    A key is a string, not blank, at most 250 characters, without control characters (it
    becomes part of its run's id).
    """
    if not isinstance(key, str):
        return f"partition_key must be a string; got {type(key).__name__}."
    if not key.strip():
        return f"partition_key must not be empty or whitespace-only; got {key!r}."
    if len(key) > MAX_PARTITION_KEY_LENGTH:
        return (
            f"partition_key must be at most {MAX_PARTITION_KEY_LENGTH} characters; got {len(key)}."
        )
    if _CONTROL_CHARACTERS.search(key):
        return f"partition_key must not contain control characters; got {key!r}."
    return None


def carried_partition_date(current: datetime | None, incoming: datetime | None) -> datetime | None:
    """A pending partition's carried producer date after one more event, as Airflow keeps it.

    Adopted when none is carried yet; two that disagree leave none (a later event may carry
    one again).
    """
    if current is None:
        return incoming
    if incoming is not None and incoming != current:
        return None
    return current


def make_aware(naive: datetime, zone: ZoneInfo) -> datetime:
    """Read a naive wall time in ``zone``, as Airflow's ``make_aware`` does (mappers, keys).

    A wall time the clock shows twice (DST ends) is taken as its second occurrence; one it
    skips (DST starts) is moved forward by the length of the gap.
    """
    aware = naive.replace(tzinfo=zone, fold=1)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        aware = naive.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)
    return aware


# --- mappers ------------------------------------------------------------------------------


class PartitionMapper(_ByConfiguration, ABC):
    """Maps the partition key of an asset event to the partition key(s) of a Dag run.

    Subclasses implement :meth:`to_downstream`. One whose keys decode to something other
    than the key string (a temporal mapper decodes to a ``datetime``) overrides
    :meth:`decode_downstream` and :meth:`encode_upstream` together, or neither: a class
    that overrides only one of them is rejected when it is defined.

    Args:
        max_downstream_keys: the most target keys one source key may map to, overriding
            the scheduler's cap; None leaves the scheduler's cap.

    Raises:
        ValueError: ``max_downstream_keys`` is neither None nor a positive integer.

    """

    #: Whether the mapper is a :class:`RollupMapper` (see :func:`is_rollup`).
    is_rollup: ClassVar[bool] = False
    #: The type :meth:`decode_downstream` returns; a rollup's window must expect the same.
    expected_decoded_type: ClassVar[type] = str

    _max_downstream_keys: int | None = None

    def __init__(self, *, max_downstream_keys: int | None = None) -> None:
        if max_downstream_keys is not None and (
            not isinstance(max_downstream_keys, int) or max_downstream_keys < 1
        ):
            raise ValueError(
                "max_downstream_keys must be a positive integer or None, "
                f"got {max_downstream_keys!r}"
            )
        self._max_downstream_keys = max_downstream_keys

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        decodes = cls.decode_downstream is not PartitionMapper.decode_downstream
        encodes = cls.encode_upstream is not PartitionMapper.encode_upstream
        if decodes != encodes:
            raise TypeError(
                f"{cls.__qualname__} overrides only one of 'decode_downstream' and "
                "'encode_upstream'; override both or neither. With only one, a rollup's "
                "expected upstream keys would not be strings, so its Dag run would wait forever."
            )

    @property
    def max_downstream_keys(self) -> int | None:
        """The mapper's cap on the target keys of one source key, or None."""
        return self._max_downstream_keys

    def _keywords(self) -> dict[str, Any]:
        """The base keyword arguments, for :meth:`_arguments` (only those set)."""
        if self._max_downstream_keys is None:
            return {}
        return {"max_downstream_keys": self._max_downstream_keys}

    @abstractmethod
    def to_downstream(self, key: str) -> str | Iterable[str]:
        """The target key (or keys) that source key ``key`` maps to."""

    def decode_downstream(self, downstream_key: str) -> Any:
        """The decoded form of a target key that a rollup's window expands (here the key)."""
        return downstream_key

    def encode_upstream(self, decoded: Any) -> str:
        """The source key of one decoded member of a window (here the member itself)."""
        return cast(str, decoded)

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        """The start of the period a target key stands for; None for a non-temporal key."""
        return None

    def carry_partition_date(self, source_partition_date: datetime | None) -> datetime | None:
        """The producer's ``partition_date`` to carry to the consumer's run (here none)."""
        return None

    def serialize(self) -> dict[str, Any]:
        """A user's mapper's arguments, JSON-encodable, for :meth:`deserialize`.

        The scheduler rebuilds a user's mapper (from the plugins folder) with them; the
        built-in mappers travel in the contract's own form instead.
        """
        if self.max_downstream_keys is None:
            return {}
        return {"max_downstream_keys": self.max_downstream_keys}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> PartitionMapper:
        """The mapper :meth:`serialize` described."""
        return cls(max_downstream_keys=data.get("max_downstream_keys"))


class RollupMapper(PartitionMapper):
    """Waits for many source keys, the members of a window, before one target key's run.

    ``upstream_mapper`` maps each source key to its target key; ``window`` expands a decoded
    target key into the decoded source keys it needs; ``wait_policy`` (by default
    :class:`WaitForAll`) decides how many must have arrived.

    Raises:
        TypeError: the window expects a decoded type the upstream mapper does not decode to.

    """

    is_rollup: ClassVar[bool] = True

    def __init__(
        self,
        *,
        upstream_mapper: PartitionMapper,
        window: Window,
        wait_policy: WaitPolicy | None = None,
        max_downstream_keys: int | None = None,
    ) -> None:
        if upstream_mapper.expected_decoded_type is not window.expected_decoded_type:
            raise TypeError(
                f"{type(window).__name__} expects decoded values of type "
                f"{window.expected_decoded_type.__name__!r}, but "
                f"{type(upstream_mapper).__name__} decodes to "
                f"{upstream_mapper.expected_decoded_type.__name__!r}. Pair a window and an "
                "upstream mapper whose 'expected_decoded_type' match."
            )
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._upstream_mapper = upstream_mapper
        self._window = window
        self._wait_policy = WaitForAll() if wait_policy is None else wait_policy

    @property
    def upstream_mapper(self) -> PartitionMapper:
        """The mapper from a source key to its target key."""
        return self._upstream_mapper

    @property
    def window(self) -> Window:
        """The window listing the source keys of one target key."""
        return self._window

    @property
    def wait_policy(self) -> WaitPolicy:
        """The policy deciding when enough source keys have arrived."""
        return self._wait_policy

    def _arguments(self) -> _Arguments:
        return (), {
            "upstream_mapper": self._upstream_mapper,
            "window": self._window,
            "wait_policy": self._wait_policy,
            **self._keywords(),
        }

    def to_downstream(self, key: str) -> str | Iterable[str]:
        """The target key of ``key``, as the upstream mapper maps it."""
        return self._upstream_mapper.to_downstream(key)

    def to_upstream(self, downstream_key: str) -> frozenset[str]:
        """Every source key that target key ``downstream_key`` needs."""
        decoded = self._upstream_mapper.decode_downstream(downstream_key)
        return frozenset(
            self._upstream_mapper.encode_upstream(member)
            for member in self._window.to_upstream(decoded)
        )

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        """The upstream mapper's anchor: target keys are in its format."""
        return self._upstream_mapper.to_partition_date(downstream_key)


def is_rollup(mapper: PartitionMapper) -> TypeGuard[RollupMapper]:
    """Whether ``mapper`` is a rollup mapper (narrowing its type to :class:`RollupMapper`)."""
    return mapper.is_rollup


class IdentityMapper(PartitionMapper):
    """Maps every key to itself, and carries the producer's ``partition_date`` along."""

    def _arguments(self) -> _Arguments:
        return (), self._keywords()

    def to_downstream(self, key: str) -> str:
        """``key`` unchanged."""
        return key

    def carry_partition_date(self, source_partition_date: datetime | None) -> datetime | None:
        """The producer's date: the key is the same, and says nothing of time itself."""
        return source_partition_date


class FixedKeyMapper(PartitionMapper):
    """Maps every key to one fixed target key (e.g. to roll up a :class:`SegmentWindow`).

    Raises:
        ValueError: ``downstream_key`` is not a non-empty string.

    """

    def __init__(self, downstream_key: str, *, max_downstream_keys: int | None = None) -> None:
        if not downstream_key or not isinstance(downstream_key, str):
            raise ValueError(
                f"FixedKeyMapper downstream_key must be a non-empty str; got {downstream_key!r}."
            )
        if (problem := partition_key_problem(downstream_key)) is not None:
            raise ValueError(f"FixedKeyMapper downstream_key: {problem}")
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._downstream_key = downstream_key

    @property
    def downstream_key(self) -> str:
        """The key every source key maps to."""
        return self._downstream_key

    def _arguments(self) -> _Arguments:
        return (self._downstream_key,), self._keywords()

    def to_downstream(self, key: str) -> str:
        """The fixed target key, whatever ``key`` is."""
        return self._downstream_key


class AllowedKeyMapper(PartitionMapper):
    """Maps a key to itself if it is one of ``allowed_keys``, and fails otherwise.

    Raises:
        TypeError: ``allowed_keys`` is a single string rather than a collection of keys.

    """

    def __init__(
        self, allowed_keys: Iterable[str], *, max_downstream_keys: int | None = None
    ) -> None:
        if isinstance(allowed_keys, str):
            raise TypeError("AllowedKeyMapper allowed_keys must be a collection of keys, not a str")
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._allowed_keys = tuple(allowed_keys)

    @property
    def allowed_keys(self) -> tuple[str, ...]:
        """The keys let through, in the order given."""
        return self._allowed_keys

    def _arguments(self) -> _Arguments:
        return (self._allowed_keys,), self._keywords()

    def to_downstream(self, key: str) -> str:
        """``key`` unchanged.

        Raises:
            ValueError: ``key`` is not an allowed key.

        """
        if key not in self._allowed_keys:
            raise ValueError(f"Key {key!r} not in allowed keys {list(self._allowed_keys)}")
        return key


class ChainMapper(PartitionMapper):
    """Applies two or more mappers in turn, each to every key the one before produced."""

    def __init__(
        self,
        mapper0: PartitionMapper,
        mapper1: PartitionMapper,
        /,
        *mappers: PartitionMapper,
        max_downstream_keys: int | None = None,
    ) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._mappers = (mapper0, mapper1, *mappers)

    @property
    def mappers(self) -> tuple[PartitionMapper, ...]:
        """The mappers, in the order they apply."""
        return self._mappers

    def _arguments(self) -> _Arguments:
        return self._mappers, self._keywords()

    def to_downstream(self, key: str) -> str | Iterable[str]:
        """The keys the last mapper produced: one string, or a list of them.

        Raises:
            TypeError: a mapper returned something other than a string or strings.

        """
        keys = [key]
        for mapper in self._mappers:
            produced: list[str] = []
            for current in keys:
                mapped = mapper.to_downstream(current)
                if isinstance(mapped, str):
                    produced.append(mapped)
                    continue
                if not isinstance(mapped, Iterable):
                    raise TypeError(
                        "ChainMapper child mappers must return a string or iterable of strings, "
                        f"but {type(mapper).__name__} returned {type(mapped).__name__}"
                    )
                for item in mapped:
                    if not isinstance(item, str):
                        raise TypeError(
                            "ChainMapper child mappers must return an iterable of strings, "
                            f"but {type(mapper).__name__} yielded {type(item).__name__}"
                        )
                    produced.append(item)
            keys = produced
        return keys[0] if len(keys) == 1 else keys

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        """The last mapper's anchor: it formats the final key."""
        return self._mappers[-1].to_partition_date(downstream_key)


class ProductMapper(PartitionMapper):
    """Maps each part of a composite key (``"us|2024-03-13T10:00:00"``) with its own mapper."""

    def __init__(
        self,
        mapper0: PartitionMapper,
        mapper1: PartitionMapper,
        /,
        *mappers: PartitionMapper,
        delimiter: str = "|",
        max_downstream_keys: int | None = None,
    ) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._mappers = (mapper0, mapper1, *mappers)
        self._delimiter = delimiter

    @property
    def mappers(self) -> tuple[PartitionMapper, ...]:
        """One mapper per part of the key, in order."""
        return self._mappers

    @property
    def delimiter(self) -> str:
        """The string between the parts of a key."""
        return self._delimiter

    def _arguments(self) -> _Arguments:
        return self._mappers, {"delimiter": self._delimiter, **self._keywords()}

    def to_downstream(self, key: str) -> str:
        """The mapped parts of ``key``, joined by the delimiter.

        Raises:
            ValueError: ``key`` has a different number of parts than there are mappers.
            TypeError: a mapper returned more than one key for its part.

        """
        segments = key.split(self._delimiter)
        if len(segments) != len(self._mappers):
            raise ValueError(f"Expected {len(self._mappers)} segments in key, got {len(segments)}")
        results: list[str] = []
        for mapper, segment in zip(self._mappers, segments, strict=True):
            result = mapper.to_downstream(segment)
            if not isinstance(result, str):
                raise TypeError(
                    "ProductMapper child mappers must return a single key, "
                    f"but {type(mapper).__name__} returned multiple keys"
                )
            results.append(result)
        return self._delimiter.join(results)

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        """The anchor of the one temporal part; None if there are none, several or too few."""
        segments = downstream_key.split(self._delimiter)
        if len(segments) != len(self._mappers):
            return None
        anchors = [
            anchor
            for mapper, segment in zip(self._mappers, segments, strict=True)
            if (anchor := mapper.to_partition_date(segment)) is not None
        ]
        return anchors[0] if len(anchors) == 1 else None


# --- temporal mappers ---------------------------------------------------------------------

#: What each strftime directive a key format can be decoded by matches.
_DIRECTIVE_PATTERNS: dict[str, str] = {
    "%Y": r"\d{4}",
    "%m": r"\d{2}",
    "%d": r"\d{2}",
    "%H": r"\d{2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
    "%V": r"\d{2}",
    "%U": r"\d{2}",
    "%W": r"\d{2}",
}


def _compile_output_format_regex(
    fmt: str, placeholder_patterns: dict[str, str] | None = None
) -> re.Pattern[str]:
    r"""An anchored regex that parses keys formatted with ``fmt`` back into named groups.

    A directive of :data:`_DIRECTIVE_PATTERNS` becomes a group named by its letter (``%Y`` is
    ``(?P<Y>\d{4})``) and a ``{name}`` placeholder a group named ``name``, matching
    ``placeholder_patterns[name]`` or else ``\w+``. Everything else, including unknown
    directives and a ``{`` with no ``}``, matches literally.

    Raises:
        ValueError: a directive or placeholder appears twice, a placeholder name is not an
            identifier, or two ``\w+`` placeholders are adjacent.

    """
    patterns = placeholder_patterns or {}
    parts: list[str] = []
    seen: set[str] = set()
    previous_was_default = False
    i = 0
    while i < len(fmt):
        directive = fmt[i : i + 2]
        if directive in _DIRECTIVE_PATTERNS:
            name = directive[1]
            if name in seen:
                raise ValueError(
                    f"output_format {fmt!r} reuses directive {directive!r}; "
                    "each strftime directive may appear at most once."
                )
            seen.add(name)
            parts.append(f"(?P<{name}>{_DIRECTIVE_PATTERNS[directive]})")
            i += 2
            previous_was_default = False
            continue
        end = fmt.find("}", i) if fmt[i] == "{" else -1
        if end != -1:
            name = fmt[i + 1 : end]
            if not name.isidentifier():
                raise ValueError(
                    f"output_format {fmt!r} has invalid placeholder {{{name}}}; "
                    "placeholder names must be valid Python identifiers."
                )
            if name in seen:
                raise ValueError(
                    f"output_format {fmt!r} reuses placeholder {{{name}}}; "
                    "each placeholder may appear at most once."
                )
            seen.add(name)
            is_default = name not in patterns
            if is_default and previous_was_default:
                raise ValueError(
                    f"output_format {fmt!r} has adjacent default-pattern placeholders ending "
                    f"at {{{name}}}; the greedy \\w+ of the first would take the tail of the "
                    "second. Put a separator between them, or narrow one of them."
                )
            pattern = patterns.get(name, r"\w+")
            parts.append(f"(?P<{name}>{pattern})")
            i = end + 1
            previous_was_default = is_default
            continue
        parts.append(re.escape(fmt[i]))
        i += 1
        previous_was_default = False
    return re.compile(f"^{''.join(parts)}$")


class TemporalMapper(PartitionMapper):
    """Maps a timestamp key to the start of the period (hour, day, ...) containing it.

    The source key is parsed with ``input_format``; a naive time is read in ``timezone``,
    an aware one converted to it. The period start is then formatted with ``output_format``
    (by default the subclass's ``default_output_format``).

    Args:
        timezone: an IANA zone name or a ``tzinfo`` that has one (a ``ZoneInfo``,
            ``datetime.UTC``, a whole-hour fixed offset).
        input_format: the ``strptime`` format of source keys.
        output_format: the ``strftime`` format of target keys.
        max_downstream_keys: as for :class:`PartitionMapper`.

    Raises:
        ValueError: an unknown time zone, or one with no IANA name.

    """

    expected_decoded_type: ClassVar[type] = datetime
    #: The format of target keys when no ``output_format`` is given.
    default_output_format: ClassVar[str]
    #: For a mapper that decodes target keys with a regex made from ``output_format`` (its
    #: format is not ``strptime``'s): the patterns of its ``{placeholders}``. None: strptime.
    key_placeholders: ClassVar[dict[str, str] | None] = None

    def __init__(
        self,
        *,
        timezone: str | tzinfo = "UTC",
        input_format: str = "%Y-%m-%dT%H:%M:%S",
        output_format: str | None = None,
        max_downstream_keys: int | None = None,
    ) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._timezone, self._zone = _zone(timezone)
        self._input_format = input_format
        self._output_format = output_format or self.default_output_format
        if self.key_placeholders is not None:
            # Compiled now, so that a malformed format fails when the DAG is parsed.
            self._key_pattern = _compile_output_format_regex(
                self._output_format, self.key_placeholders
            )

    @property
    def timezone(self) -> str:
        """The IANA name of the mapper's time zone."""
        return self._timezone

    @property
    def tzinfo(self) -> ZoneInfo:
        """The mapper's time zone."""
        return self._zone

    @property
    def input_format(self) -> str:
        """The ``strptime`` format of source keys."""
        return self._input_format

    @property
    def output_format(self) -> str:
        """The format of target keys."""
        return self._output_format

    def _arguments(self) -> _Arguments:
        return (), {
            "timezone": self._timezone,
            "input_format": self._input_format,
            "output_format": self._output_format,
            **self._keywords(),
        }

    def to_downstream(self, key: str) -> str:
        """The target key of the period containing the time ``key``.

        Raises:
            ValueError: ``key`` does not match ``input_format``.

        """
        moment = datetime.strptime(key, self._input_format)
        if moment.tzinfo is None:
            moment = make_aware(moment, self._zone)
        else:
            moment = moment.astimezone(self._zone)
        return self.format(self.normalize(moment))

    @abstractmethod
    def normalize(self, dt: datetime) -> datetime:
        """The start of the period containing ``dt`` (on its wall clock)."""

    def format(self, dt: datetime) -> str:
        """The target key of a period start."""
        return dt.strftime(self._output_format)

    def decode_downstream(self, downstream_key: str) -> datetime:
        """The period start a target key was formatted from (naive unless it has ``%z``)."""
        return datetime.strptime(downstream_key, self._output_format)

    def encode_upstream(self, decoded: datetime) -> str:
        """The source key of a time: in the mapper's zone, formatted with ``input_format``."""
        naive = decoded.astimezone(self._zone).replace(tzinfo=None) if decoded.tzinfo else decoded
        return make_aware(naive, self._zone).strftime(self._input_format)

    def to_partition_date(self, downstream_key: str) -> datetime:
        """The aware start of the period target key ``downstream_key`` stands for."""
        anchor = self.normalize(self.decode_downstream(downstream_key))
        if anchor.tzinfo is None:
            anchor = make_aware(anchor, self._zone)
        return anchor


class StartOfHourMapper(TemporalMapper):
    """The hour containing a time: ``"2024-03-13T10:42:15"`` maps to ``"2024-03-13T10"``."""

    default_output_format: ClassVar[str] = "%Y-%m-%dT%H"

    def normalize(self, dt: datetime) -> datetime:
        """``dt`` with minutes, seconds and microseconds zeroed."""
        return dt.replace(minute=0, second=0, microsecond=0)


class StartOfDayMapper(TemporalMapper):
    """The day containing a time: ``"2024-03-13T10:42:15"`` maps to ``"2024-03-13"``."""

    default_output_format: ClassVar[str] = "%Y-%m-%d"

    def normalize(self, dt: datetime) -> datetime:
        """Midnight of ``dt``'s day."""
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)


class StartOfWeekMapper(TemporalMapper):
    """The ISO week (from Monday) containing a time.

    ``"2024-03-13T10:42:15"`` maps to ``"2024-03-11 (W11)"``. Target keys are decoded with
    a regex made from ``output_format``, which must hold ``%Y``, ``%m`` and ``%d`` for keys
    to be decoded.

    Raises:
        ValueError: a malformed ``output_format`` (see the regex compiler's rules).

    """

    default_output_format: ClassVar[str] = "%Y-%m-%d (W%V)"
    key_placeholders: ClassVar[dict[str, str] | None] = {}

    def normalize(self, dt: datetime) -> datetime:
        """Midnight of the Monday of ``dt``'s week."""
        monday = dt - timedelta(days=dt.weekday())
        return monday.replace(hour=0, minute=0, second=0, microsecond=0)

    def decode_downstream(self, downstream_key: str) -> datetime:
        """The Monday a target key names.

        Raises:
            ValueError: the key does not match ``output_format``, or it lacks a date part.

        """
        match = self._key_pattern.search(downstream_key)
        if match is None or not {"Y", "m", "d"} <= match.groupdict().keys():
            raise ValueError(
                f"StartOfWeekMapper.decode_downstream could not parse {downstream_key!r} "
                f"with output_format {self._output_format!r}; "
                "output_format must include the %Y, %m and %d directives."
            )
        return datetime(int(match["Y"]), int(match["m"]), int(match["d"]))


class StartOfMonthMapper(TemporalMapper):
    """The month containing a time: ``"2024-03-13T10:42:15"`` maps to ``"2024-03"``."""

    default_output_format: ClassVar[str] = "%Y-%m"

    def normalize(self, dt: datetime) -> datetime:
        """Midnight of the first of ``dt``'s month."""
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class StartOfQuarterMapper(TemporalMapper):
    """The calendar quarter containing a time: ``"2024-03-13T10:42:15"`` maps to ``"2024-Q1"``.

    ``output_format`` may hold the placeholder ``{quarter}`` (1 to 4) besides strftime
    directives; to decode keys it must hold ``%Y`` and ``{quarter}``.

    Raises:
        ValueError: a malformed ``output_format`` (see the regex compiler's rules).

    """

    default_output_format: ClassVar[str] = "%Y-Q{quarter}"
    key_placeholders: ClassVar[dict[str, str] | None] = {"quarter": r"[1-4]"}

    def normalize(self, dt: datetime) -> datetime:
        """Midnight of the first day of ``dt``'s quarter."""
        month = (dt.month - 1) // 3 * 3 + 1
        return dt.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)

    def format(self, dt: datetime) -> str:
        """The target key of a quarter start, ``{quarter}`` filled in."""
        return dt.strftime(self._output_format).format(quarter=(dt.month - 1) // 3 + 1)

    def decode_downstream(self, downstream_key: str) -> datetime:
        """The first day of the quarter a target key names.

        Raises:
            ValueError: the key does not match ``output_format``, or it lacks a year or
                quarter.

        """
        match = self._key_pattern.search(downstream_key)
        if match is None or not {"Y", "quarter"} <= match.groupdict().keys():
            raise ValueError(
                f"StartOfQuarterMapper.decode_downstream could not parse {downstream_key!r} "
                f"with output_format {self._output_format!r}; "
                "output_format must include the %Y directive and the {quarter} placeholder."
            )
        return datetime(int(match["Y"]), (int(match["quarter"]) - 1) * 3 + 1, 1)


class StartOfYearMapper(TemporalMapper):
    """The year containing a time: ``"2024-03-13T10:42:15"`` maps to ``"2024"``."""

    default_output_format: ClassVar[str] = "%Y"

    def normalize(self, dt: datetime) -> datetime:
        """Midnight of January 1 of ``dt``'s year."""
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


class FanOutMapper(PartitionMapper):
    """Maps one coarse source key to a target key per member of its period.

    ``upstream_mapper`` maps the source key to its period (say its week), ``window`` lists
    the period's members (its seven days, or with ``Window.Direction.BACKWARD`` the seven
    days ending at its start) and ``downstream_mapper`` formats each member as a target
    key. Without one, ``downstream_mapper`` is chosen by the window's class name from
    :attr:`default_downstream_mapper_by_window_name`.

    Raises:
        ValueError: no ``downstream_mapper`` was given and the window has no default one.

    """

    #: The default ``downstream_mapper`` class for each window class, by name.
    default_downstream_mapper_by_window_name: ClassVar[dict[str, type[TemporalMapper]]] = {
        "DayWindow": StartOfHourMapper,
        "WeekWindow": StartOfDayMapper,
        "MonthWindow": StartOfDayMapper,
        "QuarterWindow": StartOfMonthMapper,
        "YearWindow": StartOfMonthMapper,
    }

    def __init__(
        self,
        *,
        upstream_mapper: PartitionMapper,
        window: Window,
        downstream_mapper: PartitionMapper | None = None,
        max_downstream_keys: int | None = None,
    ) -> None:
        super().__init__(max_downstream_keys=max_downstream_keys)
        self._upstream_mapper = upstream_mapper
        self._window = window
        if downstream_mapper is None:
            downstream_mapper = self._resolve_default_downstream_mapper(window)
        self._downstream_mapper = downstream_mapper

    @classmethod
    def _resolve_default_downstream_mapper(cls, window: Window) -> PartitionMapper:
        mapper_class = cls.default_downstream_mapper_by_window_name.get(type(window).__name__)
        if mapper_class is None:
            raise ValueError(
                f"{cls.__name__} has no default downstream_mapper for window type "
                f"{type(window).__name__}; pass downstream_mapper explicitly."
            )
        return mapper_class()

    @property
    def upstream_mapper(self) -> PartitionMapper:
        """The mapper from a source key to its period."""
        return self._upstream_mapper

    @property
    def window(self) -> Window:
        """The window listing a period's members."""
        return self._window

    @property
    def downstream_mapper(self) -> PartitionMapper:
        """The mapper formatting each member as a target key (given or defaulted)."""
        return self._downstream_mapper

    def _arguments(self) -> _Arguments:
        return (), {
            "upstream_mapper": self._upstream_mapper,
            "window": self._window,
            "downstream_mapper": self._downstream_mapper,
            **self._keywords(),
        }

    def to_downstream(self, key: str) -> list[str]:
        """One target key per member of the period of ``key``.

        Raises:
            TypeError: the upstream mapper mapped ``key`` to several keys.

        """
        formatted = self._upstream_mapper.to_downstream(key)
        if not isinstance(formatted, str):
            raise TypeError(
                "FanOutMapper.upstream_mapper must produce a single key from to_downstream; "
                "chained fan-out (mapper that itself returns multiple keys) is not supported."
            )
        period = self._upstream_mapper.decode_downstream(formatted)
        return [
            _format_with(self._downstream_mapper, member)
            for member in self._window.to_upstream(period)
        ]

    def to_partition_date(self, downstream_key: str) -> datetime | None:
        """The downstream mapper's anchor: it formats the target keys."""
        return self._downstream_mapper.to_partition_date(downstream_key)


def _format_with(mapper: PartitionMapper, decoded: Any) -> str:
    """``decoded`` as ``mapper`` formats it, else as an ISO time, else as ``str``."""
    formatter = getattr(mapper, "format", None)
    if callable(formatter):
        return cast(str, formatter(decoded))
    if isinstance(decoded, datetime):
        return decoded.isoformat()
    return str(decoded)


# --- windows ------------------------------------------------------------------------------


def _require_day_one(dt: datetime, window: Window) -> None:
    if dt.day != 1:
        raise ValueError(
            f"{type(window).__name__} expects a period start on day 1 of the month, "
            f"got {dt.isoformat()}. The paired upstream mapper's decode_downstream "
            "must normalise to day 1."
        )


def _shift_months(dt: datetime, months: int) -> datetime:
    """``dt`` (on day 1) moved by ``months`` months."""
    total = dt.month - 1 + months
    return dt.replace(year=dt.year + total // 12, month=total % 12 + 1)


class Window(_ByConfiguration, ABC):
    """Which decoded source keys make up one decoded target key, for a rollup or a fan-out.

    A window works on decoded values only (datetimes for the temporal windows); formats and
    time zones are its mapper's. Temporal windows step on the naive wall clock: a day is
    always 24 hourly members, even when DST makes the local day 23 or 25 hours long.

    Args:
        direction: ``FORWARD`` (the default) lists the period starting at the anchor,
            ``BACKWARD`` the trailing period ending at it.

    Raises:
        ValueError: ``direction`` is not a direction or its value.

    """

    class Direction(StrEnum):
        """Which way from its anchor a window's period runs."""

        BACKWARD = "backward"
        FORWARD = "forward"

        def __repr__(self) -> str:
            return f"Window.Direction.{self.name}"

    #: The type of the decoded target key :meth:`to_upstream` expects.
    expected_decoded_type: ClassVar[type] = str

    def __init__(self, *, direction: Window.Direction | str = Direction.FORWARD) -> None:
        self._direction = self.Direction(direction)

    @property
    def direction(self) -> Window.Direction:
        """Whether the period runs forward from the anchor or ends at it."""
        return self._direction

    @abstractmethod
    def to_upstream(self, decoded_downstream: Any) -> Iterable[Any]:
        """The decoded members of the period ``decoded_downstream``."""

    def serialize(self) -> dict[str, Any]:
        """A user's window's arguments, JSON-encodable, for :meth:`deserialize`."""
        return {"direction": self.direction.value}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Window:
        """The window :meth:`serialize` described."""
        return cls(direction=cls.Direction(data.get("direction", "forward")))


class _StepWindow(Window):
    """A fixed number of members, one step apart."""

    expected_decoded_type: ClassVar[type] = datetime
    _count: ClassVar[int]

    @staticmethod
    @abstractmethod
    def _step(base: datetime, steps: int) -> datetime:
        """``base`` moved by ``steps`` members."""

    def _arguments(self) -> _Arguments:
        return (), {"direction": self._direction}

    def _check(self, period_start: datetime) -> None:
        """Reject an anchor the window cannot step from."""

    def to_upstream(self, period_start: datetime) -> tuple[datetime, ...]:
        """The members starting (or, backward, ending) at ``period_start``."""
        self._check(period_start)
        base = period_start
        if self._direction is Window.Direction.BACKWARD:
            base = self._step(period_start, 1 - self._count)
        return tuple(self._step(base, i) for i in range(self._count))


class HourWindow(_StepWindow):
    """The 60 minutes of an hour."""

    _count: ClassVar[int] = 60

    @staticmethod
    def _step(base: datetime, steps: int) -> datetime:
        return base + timedelta(minutes=steps)


class DayWindow(_StepWindow):
    """The 24 hours of a day, stepped on the naive clock.

    With a local-time mapper, the day DST starts has a member that no producer emits and
    the day it ends has an hour that is not a member, so such a rollup may never fire; keys
    in UTC avoid this.
    """

    _count: ClassVar[int] = 24

    @staticmethod
    def _step(base: datetime, steps: int) -> datetime:
        return base + timedelta(hours=steps)


class WeekWindow(_StepWindow):
    """The 7 days of a week."""

    _count: ClassVar[int] = 7

    @staticmethod
    def _step(base: datetime, steps: int) -> datetime:
        return base + timedelta(days=steps)


class MonthWindow(Window):
    """The days of a calendar month (28 to 31), from a first of the month.

    Backward, the members are the days after the first of the previous month up to and
    including the anchor: from March 1 2024, February 2 to March 1.

    Raises:
        ValueError: (from :meth:`to_upstream`) the anchor is not on day 1.

    """

    expected_decoded_type: ClassVar[type] = datetime

    def _arguments(self) -> _Arguments:
        return (), {"direction": self._direction}

    def to_upstream(self, period_start: datetime) -> tuple[datetime, ...]:
        """The days of the month starting (or, backward, ending) at ``period_start``."""
        _require_day_one(period_start, self)
        if self._direction is Window.Direction.BACKWARD:
            previous = _shift_months(period_start, -1)
            days = (period_start - previous).days
            return tuple(previous + timedelta(days=i + 1) for i in range(days))
        days = (_shift_months(period_start, 1) - period_start).days
        return tuple(period_start + timedelta(days=i) for i in range(days))


class QuarterWindow(_StepWindow):
    """The 3 month starts of a quarter, from a first of the month.

    Raises:
        ValueError: (from :meth:`to_upstream`) the anchor is not on day 1.

    """

    _count: ClassVar[int] = 3

    @staticmethod
    def _step(base: datetime, steps: int) -> datetime:
        return _shift_months(base, steps)

    def _check(self, period_start: datetime) -> None:
        _require_day_one(period_start, self)


class YearWindow(_StepWindow):
    """The 12 month starts of a year, from a first of the month.

    Raises:
        ValueError: (from :meth:`to_upstream`) the anchor is not on day 1.

    """

    _count: ClassVar[int] = 12

    @staticmethod
    def _step(base: datetime, steps: int) -> datetime:
        return _shift_months(base, steps)

    def _check(self, period_start: datetime) -> None:
        _require_day_one(period_start, self)


class SegmentWindow(Window):
    """A fixed set of categorical keys (say regions) that one target key needs, whatever it is.

    Paired with a :class:`FixedKeyMapper` in a :class:`RollupMapper`, the target run waits
    for every segment. Duplicates are dropped. It has no direction (it reports ``FORWARD``).

    Raises:
        ValueError: ``segments`` is empty or holds a non-string or an empty string.

    """

    expected_decoded_type: ClassVar[type] = str

    def __init__(self, segments: Iterable[str]) -> None:
        super().__init__()
        validated: list[str] = []
        for index, item in enumerate(segments):
            if not isinstance(item, str):
                raise ValueError(
                    "SegmentWindow segment keys must be str; "
                    f"got {type(item).__name__!r} at index {index}: {item!r}"
                )
            if not item:
                raise ValueError(
                    "SegmentWindow segment keys must be non-empty; "
                    f"got an empty string at index {index}."
                )
            validated.append(item)
        if not validated:
            raise ValueError(
                "SegmentWindow requires at least one segment key; got an empty iterable."
            )
        self._segments = frozenset(validated)

    @property
    def segments(self) -> frozenset[str]:
        """The segment keys."""
        return self._segments

    def _arguments(self) -> _Arguments:
        return (tuple(sorted(self._segments)),), {}

    def to_upstream(self, decoded_downstream: Any) -> frozenset[str]:
        """Every segment key, whatever ``decoded_downstream`` is."""
        return self._segments


# --- wait policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionSatisfaction:
    """Whether a rollup's target partition may have its run, and whether it ever can.

    ``unreachable_reason`` is set exactly when ``unreachable`` is, and is ready to log.

    Raises:
        ValueError: ``unreachable_reason`` is set without ``unreachable`` or the other way.

    """

    satisfied: bool
    unreachable: bool
    unreachable_reason: str | None

    def __post_init__(self) -> None:
        if self.unreachable and self.unreachable_reason is None:
            raise ValueError("unreachable_reason must be set when unreachable is True")
        if not self.unreachable and self.unreachable_reason is not None:
            raise ValueError("unreachable_reason must be None when unreachable is False")


class WaitPolicy(ABC):
    """Decides, from the source keys a rollup expects and those that arrived, when it fires."""

    @abstractmethod
    def is_satisfied(self, matched: int, expected: int) -> bool:
        """Whether ``matched`` of ``expected`` source keys are enough."""

    @abstractmethod
    def is_unreachable(self, expected: int) -> bool:
        """Whether no number of arrivals out of ``expected`` could ever be enough."""

    def is_satisfied_by_keys(
        self, *, matched: Set[str], expected: Set[str]
    ) -> PartitionSatisfaction:
        """The verdict on the arrived keys ``matched`` against the ``expected`` ones."""
        cardinality = len(expected)
        unreachable = self.is_unreachable(cardinality)
        return PartitionSatisfaction(
            satisfied=self.is_satisfied(matched=len(matched & expected), expected=cardinality),
            unreachable=unreachable,
            unreachable_reason=(
                f"wait policy {self!r} can never be satisfied given the window's "
                f"cardinality {cardinality}"
                if unreachable
                else None
            ),
        )


@dataclass(frozen=True)
class WaitForAll(WaitPolicy):
    """Fires once every expected source key has arrived (an empty window at once)."""

    def is_satisfied(self, matched: int, expected: int) -> bool:
        """Whether all expected keys matched."""
        return matched == expected

    def is_unreachable(self, expected: int) -> bool:
        """Never: the keys can always all arrive."""
        return False

    def is_satisfied_by_keys(
        self, *, matched: Set[str], expected: Set[str]
    ) -> PartitionSatisfaction:
        """Satisfied when ``expected`` is a subset of ``matched``."""
        return PartitionSatisfaction(
            satisfied=expected <= matched, unreachable=False, unreachable_reason=None
        )


@dataclass(frozen=True)
class MinimumCount(WaitPolicy):
    """Fires once ``n`` expected keys have arrived, or, for a negative ``n``, all but ``-n``.

    A positive ``n`` larger than the window can never be met (the result says so); a
    negative one is clamped at zero, so it always can.

    Raises:
        ValueError: ``n`` is 0.

    """

    n: int

    def __post_init__(self) -> None:
        if self.n == 0:
            raise ValueError(
                "MinimumCount(0) is degenerate: n=0 would always fire, even on empty windows. "
                "Use WaitForAll() to require every key, or MinimumCount(n) with n != 0."
            )

    def is_satisfied(self, matched: int, expected: int) -> bool:
        """Whether at least ``n`` (or all but ``-n``) keys matched."""
        if self.n > 0:
            return matched >= self.n
        return matched >= max(0, expected + self.n)

    def is_unreachable(self, expected: int) -> bool:
        """Whether ``n`` is positive and more than the window holds."""
        return self.n > 0 and self.n > expected


# --- what the scheduler calls -------------------------------------------------------------


class PartitionFanOutExceeded(ValueError):
    """A source key mapped to more target keys than the mapper's or the scheduler's cap."""

    def __init__(self, source_key: str, count: int, cap: int, *, cap_source: str) -> None:
        super().__init__(
            f"partition key {source_key!r} maps to {count} downstream keys, "
            f"more than {cap_source}={cap}; no Dag run is queued for it"
        )
        #: The source partition key.
        self.source_key = source_key
        #: How many distinct target keys it mapped to.
        self.count = count
        #: The cap exceeded.
        self.cap = cap
        #: ``"max_downstream_keys"`` (the mapper's) or ``"cap"`` (the scheduler's).
        self.cap_source = cap_source


def downstream_keys(mapper: PartitionMapper, source_key: str, *, cap: int) -> tuple[str, ...]:
    """The distinct target keys of ``source_key``, in the order the mapper gave them.

    Args:
        mapper: the consumer's mapper for the asset.
        source_key: the partition key of the asset event.
        cap: the scheduler's most target keys per event, used when the mapper sets none.

    Raises:
        TypeError: the mapper returned something other than a string or strings.
        PartitionFanOutExceeded: more distinct keys than ``mapper.max_downstream_keys``, or
            ``cap`` when that is None.
        Exception: whatever the mapper raises for a key it cannot map.

    """
    mapped = mapper.to_downstream(source_key)
    if isinstance(mapped, str):
        keys: tuple[str, ...] = (mapped,)
    elif isinstance(mapped, Iterable):
        members = list(mapped)
        for item in members:
            if not isinstance(item, str):
                raise TypeError(
                    f"{type(mapper).__name__}.to_downstream must return a string or strings, "
                    f"but it yielded {type(item).__name__}"
                )
        keys = tuple(dict.fromkeys(members))
    else:
        raise TypeError(
            f"{type(mapper).__name__}.to_downstream must return a string or strings, "
            f"but it returned {type(mapped).__name__}"
        )
    limit, source = cap, "cap"
    if mapper.max_downstream_keys is not None:
        limit, source = mapper.max_downstream_keys, "max_downstream_keys"
    if len(keys) > limit:
        raise PartitionFanOutExceeded(source_key, len(keys), limit, cap_source=source)
    return keys


def partition_satisfied(
    mapper: PartitionMapper, target_key: str, received_source_keys: Set[str]
) -> PartitionSatisfaction:
    """Whether the source keys received so far let target partition ``target_key`` run.

    A plain mapper needs one key; a rollup asks its wait policy, over the source keys its
    window expects. Whatever the mapper raises is left to the caller (Airflow treats it as
    not satisfied yet).
    """
    if not is_rollup(mapper):
        return PartitionSatisfaction(
            satisfied=bool(received_source_keys), unreachable=False, unreachable_reason=None
        )
    return mapper.wait_policy.is_satisfied_by_keys(
        matched=received_source_keys, expected=mapper.to_upstream(target_key)
    )


def resolve_partition_date(
    mappers: Iterable[PartitionMapper], target_key: str, carried: datetime | None
) -> datetime | None:
    """The ``partition_date`` of the run of ``target_key``, from the mappers of its assets.

    Each mapper's anchor for the key is compared as an instant. With no anchor at all the
    date ``carried`` from the producer (identity mappers) is used; with one, it; with
    anchors that disagree, or a mapper that raises, none.
    """
    anchors: dict[datetime, datetime] = {}
    try:
        for mapper in mappers:
            anchor = mapper.to_partition_date(target_key)
            if anchor is not None:
                instant = anchor.astimezone(UTC) if anchor.tzinfo is not None else anchor
                anchors.setdefault(instant, anchor)
    except Exception:
        return None
    if not anchors:
        return carried
    if len(anchors) > 1:
        return None
    return next(iter(anchors.values()))


#: The temporal mappers by the period they start keys at (the wire format names periods).
TEMPORAL_MAPPERS: dict[str, type[TemporalMapper]] = {
    "hour": StartOfHourMapper,
    "day": StartOfDayMapper,
    "week": StartOfWeekMapper,
    "month": StartOfMonthMapper,
    "quarter": StartOfQuarterMapper,
    "year": StartOfYearMapper,
}
#: The windows of one period each, by that period.
PERIOD_WINDOWS: dict[str, type[Window]] = {
    "hour": HourWindow,
    "day": DayWindow,
    "week": WeekWindow,
    "month": MonthWindow,
    "quarter": QuarterWindow,
    "year": YearWindow,
}
