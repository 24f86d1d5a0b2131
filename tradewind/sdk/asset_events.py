"""Asset events as task code sees them: outlet, inlet and triggering events in the context.

A task sets the extra of its outlets' events (``outlet_events[asset].extra = {...}``) and
attaches assets to its aliases (``outlet_events[alias].add(Asset(...))``); the runtime sends
``outlet_events_payload()`` when the task succeeds. It reads past events of its inlets
(``inlet_events[asset][-1].extra``) and, in an asset-triggered run, the events that triggered
it (``triggering_asset_events[asset]``). How references are resolved and events fetched is
given as callables, so these classes need no connection of their own.
"""

from __future__ import annotations

import collections
import inspect
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Self, TypeVar, overload

from core.partitions import partition_key_problem
from protos.asset.v1 import message_pb2 as asset_pb2
from tradewind.sdk.assets import (
    Asset,
    AssetAlias,
    AssetNameRef,
    AssetRef,
    AssetUriRef,
    Metadata,
    asset_from_message,
)

logger = logging.getLogger("tradewind.task")

#: Finds the asset a reference points to (raises KeyError when there is none).
AssetResolver = Callable[[AssetNameRef | AssetUriRef], Asset]

# An asset is identified by (name, uri), an alias by its name.
_Key = tuple[str, str] | str


@dataclass(frozen=True, kw_only=True)
class AssetEventQuery:
    """Which stored events to read: of an asset, or recorded through an alias.

    Attributes:
        asset: the asset (its name and uri), or None with ``alias_name``.
        alias_name: the alias, or None with ``asset``.
        after: only events recorded after this time (aware).
        before: only events recorded before this time (aware).
        ascending: oldest first; False for newest first.
        limit: at most this many; None for all of them (up to the server's maximum).

    """

    asset: Asset | None = None
    alias_name: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    ascending: bool = True
    limit: int | None = None


#: Fetches the stored events a query names.
AssetEventFetcher = Callable[[AssetEventQuery], list["AssetEventResult"]]


@dataclass(frozen=True, kw_only=True)
class AssetEventResult:
    """One stored asset event.

    Attributes:
        id: the event's id.
        asset: the asset it is an event of.
        extra: the event's extra.
        source_dag_id: the DAG of the task that emitted it, if a task did.
        source_task_id: that task.
        source_run_id: that task's run.
        source_map_index: that task's map index (-1 when not mapped).
        source_aliases: the aliases through which the task attached the asset.
        timestamp: when it was emitted (aware).
        origin: who emitted it: "task", "api" or "watcher".
        partition_key: the partition it updated, or None.

    """

    id: int
    asset: Asset
    extra: dict[str, Any] = field(default_factory=dict)
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int = -1
    source_aliases: list[AssetAlias] = field(default_factory=list)
    timestamp: datetime
    origin: str = "task"
    partition_key: str | None = None


@dataclass(frozen=True)
class OutletEventPayload:
    """One asset event a task asks for when it succeeds.

    Attributes:
        asset: the asset of the event.
        extra: the event's extra.
        source_alias_name: the alias the asset was attached to, or "" for an outlet asset.
        partition_keys: the partitions it updated (one event each); empty: the run's.

    """

    asset: Asset
    extra: dict[str, Any]
    source_alias_name: str = ""
    partition_keys: frozenset[str] = frozenset()


def _asset_key(asset: Asset) -> tuple[str, str]:
    return (asset.name, asset.uri)


class _RefResolver:
    """Resolves references once each; a reference found by name also answers for its URI."""

    def __init__(self, resolve: AssetResolver) -> None:
        self._resolve = resolve
        self._cache: dict[AssetRef, Asset] = {}

    def __call__(self, ref: AssetRef) -> Asset:
        if ref in self._cache:
            return self._cache[ref]
        if not isinstance(ref, AssetNameRef | AssetUriRef):
            raise TypeError(f"Unimplemented asset ref: {type(ref).__name__}")
        asset = self._resolve(ref)
        self._cache[ref] = asset
        self._cache[AssetNameRef(asset.name)] = asset
        self._cache[AssetUriRef(asset.uri)] = asset
        return asset


_T = TypeVar("_T")


class _ForAssetMixin(Generic[_T]):
    """``for_asset(name=..., uri=...)`` and ``for_asset_alias(name=...)``, as Airflow's."""

    def __getitem__(self, key: Asset | AssetAlias | AssetRef) -> _T:
        raise NotImplementedError

    def for_asset(self, *, name: str | None = None, uri: str | None = None) -> _T:
        """The entry of the asset with this name and/or URI.

        Raises:
            ValueError: neither is given.

        """
        if name and uri:
            return self[Asset(name=name, uri=uri)]
        if name:
            return self[Asset.ref(name=name)]
        if uri:
            return self[Asset.ref(uri=uri)]
        raise ValueError("name and uri cannot both be None")

    def for_asset_alias(self, *, name: str) -> _T:
        """The entry of the alias with this name."""
        return self[AssetAlias(name=name)]


class OutletEventAccessor:
    """The event a task emits for one outlet asset, or the events it adds through an alias.

    Attributes:
        key: the asset or alias.
        extra: the extra of the asset's event.
        asset_alias_events: the events added through the alias, in order.
        partition_keys: the partitions the asset's events are for (``add_partitions``).

    """

    def __init__(
        self, key: Asset | AssetAlias, *, resolve: Callable[[AssetRef], Asset] | None = None
    ) -> None:
        self.key = key
        self.extra: dict[str, Any] = {}
        self.asset_alias_events: list[OutletEventPayload] = []
        self.partition_keys: set[str] = set()
        self._resolve = resolve

    def __repr__(self) -> str:
        return (
            f"OutletEventAccessor(key={self.key!r}, extra={self.extra!r}, "
            f"asset_alias_events={self.asset_alias_events!r}, "
            f"partition_keys={sorted(self.partition_keys)!r})"
        )

    def add_partitions(self, keys: str | list[str]) -> None:
        """Name partitions of the asset the task updated: it emits one event for each.

        Args:
            keys: a key or a list of keys; a repeated key makes one event.

        Raises:
            TypeError: the accessor is an alias's (partitions belong to concrete assets).
            ValueError: a key is blank or longer than 250 characters.

        """
        if isinstance(self.key, AssetAlias):
            raise TypeError(
                "add_partitions() is not supported on asset alias outlet events; "
                "partition keys can only be attached to a concrete asset."
            )
        if isinstance(keys, str):
            keys = [keys]
        for key in keys:
            if (problem := partition_key_problem(key)) is not None:
                raise ValueError(problem)
        self.partition_keys.update(keys)

    def add(self, asset: Asset | AssetRef, extra: dict[str, Any] | None = None) -> None:
        """Attach ``asset`` to this alias: the task emits an event of it with ``extra``.

        Does nothing when the accessor is an asset's, not an alias's.

        Args:
            asset: the asset, or a reference to it.
            extra: the event's extra.

        """
        if not isinstance(self.key, AssetAlias):
            return
        if isinstance(asset, AssetRef):
            if self._resolve is None:
                raise ValueError(f"cannot add {asset!r}: this accessor resolves no references")
            asset = self._resolve(asset)
        self.asset_alias_events.append(
            OutletEventPayload(
                asset=asset, extra=dict(extra or {}), source_alias_name=self.key.name
            )
        )


class OutletEventAccessors(
    Mapping[Asset | AssetAlias, OutletEventAccessor], _ForAssetMixin[OutletEventAccessor]
):
    """``outlet_events``: an accessor per asset or alias, made on first access.

    Args:
        resolve: finds the asset a reference points to.

    """

    def __init__(self, resolve: AssetResolver) -> None:
        self._resolve = _RefResolver(resolve)
        self._accessors: dict[_Key, OutletEventAccessor] = {}

    def __repr__(self) -> str:
        return f"OutletEventAccessors({list(self._accessors.values())!r})"

    def __iter__(self) -> Iterator[Asset | AssetAlias]:
        return (accessor.key for accessor in self._accessors.values())

    def __len__(self) -> int:
        return len(self._accessors)

    def __getitem__(self, key: Asset | AssetAlias | AssetRef) -> OutletEventAccessor:
        if isinstance(key, AssetRef):
            key = self._resolve(key)
        hashable: _Key
        if isinstance(key, Asset):
            hashable = _asset_key(key)
        elif isinstance(key, AssetAlias):
            hashable = key.name
        else:
            raise TypeError(f"Key should be either an asset or an asset alias, not {type(key)}")
        if hashable not in self._accessors:
            self._accessors[hashable] = OutletEventAccessor(key, resolve=self._resolve)
        return self._accessors[hashable]

    def outlet_events_payload(self) -> list[OutletEventPayload]:
        """The events recorded: per asset given an extra or partitions, per asset on an alias."""
        payload: list[OutletEventPayload] = []
        for accessor in self._accessors.values():
            if isinstance(accessor.key, Asset) and (accessor.extra or accessor.partition_keys):
                payload.append(
                    OutletEventPayload(
                        asset=accessor.key,
                        extra=dict(accessor.extra),
                        partition_keys=frozenset(accessor.partition_keys),
                    )
                )
            payload.extend(accessor.asset_alias_events)
        return payload


def apply_metadata(accessors: OutletEventAccessors, item: object) -> bool:
    """Record what a task yielded if it is a ``Metadata``.

    Args:
        accessors: the task's ``outlet_events``.
        item: a value the task yielded.

    Returns:
        Whether ``item`` was a ``Metadata`` (and so was recorded).

    """
    if not isinstance(item, Metadata):
        return False
    accessors[item.asset].extra.update(item.extra)
    if item.alias is not None:
        accessors[item.alias].add(item.asset, extra=item.extra)
    return True


def _as_utc(value: datetime | str, argument: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{argument}={value!r} is no ISO 8601 date and time") from None
    elif not isinstance(value, datetime):
        raise TypeError(f"{argument} takes a datetime or an ISO 8601 string, not {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class InletEventsAccessor(Sequence[AssetEventResult]):
    """The stored events of one inlet, fetched on first use; narrow them by chaining.

    ``inlet_events[asset].after("2024-01-01").ascending(False).limit(5)`` asks for the five
    latest events since 2024. Each call returns the accessor itself and forgets what was
    fetched.

    Args:
        fetch: fetches the events.
        asset: the asset whose events to read.
        alias_name: or the alias whose assets' events to read.

    Raises:
        ValueError: not exactly one of ``asset`` and ``alias_name`` is given.

    """

    def __init__(
        self,
        fetch: AssetEventFetcher,
        *,
        asset: Asset | None = None,
        alias_name: str | None = None,
    ) -> None:
        if (asset is None) == (alias_name is None):
            raise ValueError("an InletEventsAccessor reads either an asset or an alias")
        self._fetch = fetch
        self._asset = asset
        self._alias_name = alias_name
        self._after: datetime | None = None
        self._before: datetime | None = None
        self._ascending = True
        self._limit: int | None = None
        self._events: list[AssetEventResult] | None = None

    def __repr__(self) -> str:
        target = repr(self._asset) if self._asset is not None else f"alias {self._alias_name!r}"
        return f"InletEventsAccessor({target})"

    def after(self, after: datetime | str) -> Self:
        """Only events emitted after ``after`` (a naive time is taken as UTC)."""
        self._after = _as_utc(after, "after")
        return self._reset()

    def before(self, before: datetime | str) -> Self:
        """Only events emitted before ``before`` (a naive time is taken as UTC)."""
        self._before = _as_utc(before, "before")
        return self._reset()

    def ascending(self, ascending: bool = True) -> Self:
        """Oldest event first (the default), or newest first with ``False``."""
        self._ascending = ascending
        return self._reset()

    def limit(self, limit: int) -> Self:
        """At most ``limit`` events."""
        self._limit = limit
        return self._reset()

    def _reset(self) -> Self:
        self._events = None
        return self

    @property
    def _asset_events(self) -> list[AssetEventResult]:
        if self._events is None:
            self._events = list(
                self._fetch(
                    AssetEventQuery(
                        asset=self._asset,
                        alias_name=self._alias_name,
                        after=self._after,
                        before=self._before,
                        ascending=self._ascending,
                        limit=self._limit,
                    )
                )
            )
        return self._events

    def __iter__(self) -> Iterator[AssetEventResult]:
        return iter(self._asset_events)

    def __len__(self) -> int:
        return len(self._asset_events)

    @overload
    def __getitem__(self, index: int) -> AssetEventResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AssetEventResult]: ...

    def __getitem__(self, index: int | slice) -> AssetEventResult | Sequence[AssetEventResult]:
        return self._asset_events[index]


class InletEventsAccessors(
    Mapping[int | Asset | AssetAlias | AssetRef, InletEventsAccessor],
    _ForAssetMixin[InletEventsAccessor],
):
    """``inlet_events``: the events of a task's inlets, by inlet or by position in ``inlets``.

    References among the inlets are resolved when the mapping is first read.

    Args:
        inlets: the task's inlets.
        fetch: fetches the events.
        resolve: finds the asset a reference points to.

    """

    def __init__(
        self, inlets: Iterable[Any], fetch: AssetEventFetcher, resolve: AssetResolver
    ) -> None:
        self._inlets = list(inlets)
        self._fetch = fetch
        self._resolver = _RefResolver(resolve)
        self._known: tuple[dict[tuple[str, str], Asset], dict[str, AssetAlias]] | None = None

    @property
    def _assets(self) -> dict[tuple[str, str], Asset]:
        return self._index()[0]

    @property
    def _aliases(self) -> dict[str, AssetAlias]:
        return self._index()[1]

    def _index(self) -> tuple[dict[tuple[str, str], Asset], dict[str, AssetAlias]]:
        if self._known is None:
            assets: dict[tuple[str, str], Asset] = {}
            aliases: dict[str, AssetAlias] = {}
            for inlet in self._inlets:
                if isinstance(inlet, AssetRef):
                    inlet = self._resolver(inlet)
                if isinstance(inlet, Asset):
                    assets[_asset_key(inlet)] = inlet
                elif isinstance(inlet, AssetAlias):
                    aliases[inlet.name] = inlet
            self._known = (assets, aliases)
        return self._known

    def __repr__(self) -> str:
        return f"InletEventsAccessors({self._inlets!r})"

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inlets)

    def __len__(self) -> int:
        return len(self._inlets)

    def __getitem__(self, key: int | Asset | AssetAlias | AssetRef) -> InletEventsAccessor:
        obj: object = key
        if isinstance(key, int):
            obj = self._inlets[key]
            if not isinstance(obj, Asset | AssetAlias | AssetRef):
                raise IndexError(key)
        if isinstance(obj, Asset):
            return InletEventsAccessor(self._fetch, asset=self._assets[_asset_key(obj)])
        if isinstance(obj, AssetNameRef | AssetUriRef):
            found = next((a for a in self._assets.values() if _matches(a, obj)), None)
            if found is None:
                raise KeyError(obj)
            return InletEventsAccessor(self._fetch, asset=found)
        if isinstance(obj, AssetAlias):
            return InletEventsAccessor(self._fetch, alias_name=self._aliases[obj.name].name)
        raise TypeError(f"`key` is of unknown type ({type(key).__name__})")


def _matches(asset: Asset, ref: AssetNameRef | AssetUriRef) -> bool:
    if isinstance(ref, AssetNameRef):
        return asset.name == ref.name
    return asset.uri == ref.uri


class TriggeringAssetEventsAccessor(
    Mapping[Asset | AssetAlias, Sequence[AssetEventResult]],
    _ForAssetMixin[Sequence[AssetEventResult]],
):
    """``triggering_asset_events``: the events that triggered a run, by asset or alias.

    Make one with ``build``. An event is listed under its asset and under each alias it came
    through; a missing key raises KeyError.
    """

    def __init__(
        self,
        events: Mapping[_Key, list[AssetEventResult]],
        keys: Mapping[_Key, Asset | AssetAlias],
        resolve: AssetResolver,
    ) -> None:
        self._events = dict(events)
        self._keys = dict(keys)
        self._resolve = _RefResolver(resolve)

    @classmethod
    def build(
        cls, events: Iterable[AssetEventResult], resolve: AssetResolver
    ) -> TriggeringAssetEventsAccessor:
        """The accessor of these events.

        Args:
            events: the run's triggering events.
            resolve: finds the asset a reference points to.

        Returns:
            The accessor.

        """
        grouped: dict[_Key, list[AssetEventResult]] = collections.defaultdict(list)
        keys: dict[_Key, Asset | AssetAlias] = {}
        for event in events:
            asset_key = _asset_key(event.asset)
            grouped[asset_key].append(event)
            keys.setdefault(asset_key, event.asset)
            for alias in event.source_aliases:
                grouped[alias.name].append(event)
                keys.setdefault(alias.name, alias)
        return cls(grouped, keys, resolve)

    def __repr__(self) -> str:
        return f"TriggeringAssetEventsAccessor({self._events!r})"

    def __iter__(self) -> Iterator[Asset | AssetAlias]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, key: Asset | AssetAlias | AssetRef) -> Sequence[AssetEventResult]:
        hashable: _Key
        if isinstance(key, AssetRef):
            hashable = _asset_key(self._resolve(key))
        elif isinstance(key, Asset):
            hashable = _asset_key(key)
        elif isinstance(key, AssetAlias):
            hashable = key.name
        else:
            raise TypeError(f"Key should be either an asset or an asset alias, not {type(key)}")
        if hashable not in self._events:
            raise KeyError(key)
        return self._events[hashable]


class LazyTriggeringAssetEvents(Mapping[Asset | AssetAlias, Sequence[AssetEventResult]]):
    """``triggering_asset_events`` that asks for the run's events only when first read.

    Args:
        load: fetches the events that triggered the run.
        resolve: finds the asset a reference points to.

    """

    def __init__(
        self, load: Callable[[], Iterable[AssetEventResult]], resolve: AssetResolver
    ) -> None:
        self._load = load
        self._resolve = resolve
        self._built: TriggeringAssetEventsAccessor | None = None

    @property
    def _events(self) -> TriggeringAssetEventsAccessor:
        if self._built is None:
            self._built = TriggeringAssetEventsAccessor.build(self._load(), self._resolve)
        return self._built

    def __getitem__(self, key: Asset | AssetAlias | AssetRef) -> Sequence[AssetEventResult]:
        return self._events[key]

    def __iter__(self) -> Iterator[Asset | AssetAlias]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __repr__(self) -> str:
        return repr(self._events) if self._built is not None else "TriggeringAssetEvents(...)"


def event_from_message(message: asset_pb2.AssetEvent) -> AssetEventResult:
    """An event as the contract carries it, for task code."""
    return AssetEventResult(
        id=message.id,
        asset=asset_from_message(message.asset),
        extra=json.loads(message.extra_json or "{}"),
        source_dag_id=message.source_dag_id or None,
        source_task_id=message.source_task_id or None,
        source_run_id=message.source_run_id or None,
        source_map_index=message.source_map_index if message.source_dag_id else -1,
        source_aliases=[AssetAlias(name) for name in message.source_aliases],
        timestamp=message.timestamp.ToDatetime(tzinfo=UTC),
        origin=message.origin or "task",
        partition_key=message.partition_key or None,
    )


def call_collecting_metadata(
    func: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    outlet_events: OutletEventAccessors | None,
) -> Any:
    """Call a task's function; a generator function's ``yield Metadata(...)`` are recorded.

    As in Airflow, a generator is run to its end: each ``Metadata`` it yields sets the extra
    of its asset's event (and attaches the asset to its alias), anything else is logged and
    ignored, and the generator's ``return`` value is the task's.
    """
    if not inspect.isgeneratorfunction(func):
        return func(*args, **kwargs)
    generator = func(*args, **kwargs)
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        if outlet_events is None or not apply_metadata(outlet_events, item):
            logger.warning("ignoring a value of type %s the task yielded", type(item).__name__)
