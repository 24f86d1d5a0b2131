"""Assets: data that tasks produce and consume, and the conditions that schedule DAGs on them.

``Asset("s3://bucket/file.csv")`` names one piece of data; a task lists it in ``outlets`` to
emit an event when it succeeds, and a DAG with ``schedule=(a & b) | c`` runs when the events
it waits for have arrived. An ``AssetAlias`` stands for assets that tasks attach to it at run
time, and ``Asset.ref(name=...)`` for an asset defined in another DAG file. The scheduler
evaluates conditions; this module only describes them and turns them into the contract's
messages (and back).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, overload

from protos.dag.v1 import message_pb2 as dag_pb2

if TYPE_CHECKING:
    from tradewind.sdk.triggers.base import BaseTrigger

_MAX_IDENTIFIER_LENGTH = 1500
_RESERVED_NAMES = frozenset({"self", "context"})


def _sanitize_uri(uri: str) -> str:
    """The normal form of an asset URI; a string that is no URI is returned as is.

    Raises:
        ValueError: the URI uses the reserved ``airflow`` scheme.

    """
    parts = urllib.parse.urlsplit(uri)
    if not parts.scheme and not parts.netloc:
        return uri
    scheme = parts.scheme.lower()
    # "x-" schemes are private: their owners normalise them, so leave them alone.
    if not scheme or scheme.startswith("x-"):
        return uri
    if scheme == "airflow":
        raise ValueError("Asset scheme 'airflow' is reserved")
    netloc = parts.netloc
    if parts.password:
        warnings.warn(
            "An Asset URI should not contain a password. User info has been automatically dropped.",
            UserWarning,
            stacklevel=3,  # the caller of Asset(...)
        )
        netloc = netloc.rpartition("@")[2]
    query = urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(parts.query)))
    return urllib.parse.urlunsplit(
        (scheme, netloc, parts.path.rstrip("/") or "/", query, ""),
    )


def _check_identifier(owner: object, attribute: str, value: object, *, non_empty: bool) -> str:
    kind = type(owner).__name__
    if not isinstance(value, str):
        raise ValueError(f"{kind} {attribute} must be a string")
    if len(value) > _MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"{kind} {attribute} cannot exceed {_MAX_IDENTIFIER_LENGTH} characters")
    if value.isspace():
        raise ValueError(f"{kind} {attribute} cannot be just whitespace")
    if non_empty and not value:
        raise ValueError(f"{kind} {attribute} cannot be empty")
    return value


class BaseAsset:
    """What ``DAG(schedule=...)`` accepts as an asset condition; combine with ``|`` and ``&``."""

    def __or__(self, other: BaseAsset) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def __and__(self, other: BaseAsset) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)

    def iter_assets(self) -> Iterator[Asset]:
        """The assets named in this condition, in order."""
        raise NotImplementedError

    def iter_asset_aliases(self) -> Iterator[AssetAlias]:
        """The asset aliases named in this condition, in order."""
        raise NotImplementedError

    def iter_asset_refs(self) -> Iterator[AssetRef]:
        """The asset references named in this condition, in order."""
        raise NotImplementedError


@dataclass
class AssetWatcher:
    """Watches an external source and emits events of the asset it is attached to.

    The triggerer runs ``trigger`` and turns each event it yields into an asset event; the
    trigger is stored as given.

    Args:
        name: identifies the watch, unique per asset.
        trigger: the trigger that waits for the external events.

    """

    name: str
    trigger: BaseTrigger

    def __post_init__(self) -> None:
        from tradewind.sdk.triggers.base import BaseEventTrigger

        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an asset watcher's name must be a non-empty string")
        if not isinstance(self.trigger, BaseEventTrigger):
            raise ValueError("Asset watcher trigger must inherit BaseEventTrigger")


def _teams(value: object, argument: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(f"{argument} must be a list of team names, got {value!r}")
    for entry in value:
        if not isinstance(entry, str) or not entry or entry.isspace():
            raise ValueError(f"Each entry in {argument} must be a non-empty string")
    return list(value)


class AssetAccessControl:
    """Which teams may use an asset, when DAGs belong to teams (Airflow 3.3).

    On an asset in a consumer's schedule, ``producer_teams`` names the other teams whose
    producers may trigger it and ``allow_global`` whether teamless ones may; on a task's
    outlet, ``consumer_teams`` names the other teams whose consumers receive its events (None:
    any) and ``allow_global`` whether teamless consumers do. It applies when the state service
    runs with ``--multi-team``.
    """

    def __init__(
        self,
        producer_teams: list[str] | None = None,
        consumer_teams: list[str] | None = None,
        allow_global: bool = True,
    ) -> None:
        self.producer_teams = _teams(producer_teams or [], "producer_teams")
        self.consumer_teams = (
            None if consumer_teams is None else _teams(consumer_teams, "consumer_teams")
        )
        if not isinstance(allow_global, bool):
            raise TypeError(f"allow_global must be a bool, got {allow_global!r}")
        self.allow_global = allow_global

    def __repr__(self) -> str:
        return (
            f"AssetAccessControl(producer_teams={self.producer_teams!r}, "
            f"consumer_teams={self.consumer_teams!r}, allow_global={self.allow_global!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetAccessControl):
            return NotImplemented
        return (self.producer_teams, self.consumer_teams, self.allow_global) == (
            other.producer_teams,
            other.consumer_teams,
            other.allow_global,
        )

    def __hash__(self) -> int:
        return hash((tuple(self.producer_teams), self.allow_global))

    def message(self) -> dag_pb2.AssetAccessControl | None:
        """The contract's message; None for the defaults."""
        if self == AssetAccessControl():
            return None
        message = dag_pb2.AssetAccessControl(
            producer_teams=self.producer_teams, allow_global=self.allow_global
        )
        if self.consumer_teams is not None:
            message.consumer_teams.teams.extend(self.consumer_teams)
        return message


class Asset(os.PathLike[str], BaseAsset):
    """A piece of data that tasks produce (``outlets``) and consume (``inlets``).

    Args:
        name: identifies the asset; defaults to ``uri``.
        uri: where the data is; defaults to ``name``. A URI is normalised (lower-case scheme,
            no password, fragment or trailing slash, sorted query).
        group: groups assets in the UI; defaults to the class's ``asset_type``.
        extra: static JSON information about the asset.
        watchers: watchers that emit the asset's events from external sources.

    Raises:
        TypeError: neither ``name`` nor ``uri`` is given.
        ValueError: an identifier is not a string, is empty, too long, only whitespace or a
            reserved name ("self", "context"), or the URI's scheme is ``airflow``.

    """

    asset_type: ClassVar[str] = "asset"

    name: str
    uri: str
    group: str
    extra: dict[str, Any]
    watchers: list[AssetWatcher]

    def __init__(
        self,
        name: str | None = None,
        uri: str | os.PathLike[str] | None = None,
        *,
        group: str | None = None,
        extra: dict[str, Any] | None = None,
        watchers: list[AssetWatcher] | None = None,
        access_control: AssetAccessControl | None = None,
    ) -> None:
        if name is None and uri is None:
            raise TypeError("Asset() requires either 'name' or 'uri'")
        if name is None:
            name = str(uri)
        if uri is None:
            uri = name
        self.name = _check_identifier(self, "name", name, non_empty=True)
        if self.name in _RESERVED_NAMES:
            raise ValueError(f"prohibited name for asset: {self.name}")
        self.uri = _check_identifier(self, "uri", _sanitize_uri(str(uri)), non_empty=True)
        self.group = _check_identifier(
            self, "group", self.asset_type if group is None else group, non_empty=False
        )
        self.extra = {} if extra is None else extra
        if access_control is not None and not isinstance(access_control, AssetAccessControl):
            raise TypeError(f"access_control must be an AssetAccessControl, got {access_control!r}")
        self.access_control = access_control or AssetAccessControl()
        self.watchers = [] if watchers is None else list(watchers)
        names = [w.name for w in self.watchers if isinstance(w, AssetWatcher)]
        if len(names) != len(self.watchers):
            raise TypeError("an asset's watchers must be AssetWatcher objects")
        if len(set(names)) != len(names):
            raise ValueError(f"asset {self.name!r} has two watchers with one name")

    @overload
    @staticmethod
    def ref(*, name: str) -> AssetNameRef: ...

    @overload
    @staticmethod
    def ref(*, uri: str) -> AssetUriRef: ...

    @staticmethod
    def ref(*, name: str = "", uri: str = "") -> AssetRef:
        """A reference to an asset defined elsewhere, by its name or by its URI.

        Args:
            name: the asset's name.
            uri: the asset's URI (taken as given, not normalised).

        Returns:
            An ``AssetNameRef`` or an ``AssetUriRef``.

        Raises:
            TypeError: both or neither of ``name`` and ``uri`` are given.

        """
        if name and uri:
            raise TypeError("Asset reference must be made to either name or URI, not both")
        if name:
            return AssetNameRef(name)
        if uri:
            return AssetUriRef(uri)
        raise TypeError("Asset reference expects keyword argument 'name' or 'uri'")

    def __fspath__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, "
            f"group={self.group!r}, extra={self.extra!r})"
        )

    def __eq__(self, other: object) -> bool:
        # Only Asset's own fields count, so that a subclass's additions do not break equality.
        if not isinstance(other, Asset):
            return NotImplemented
        return (self.name, self.uri, self.group, self.extra) == (
            other.name,
            other.uri,
            other.group,
            other.extra,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.uri))

    def iter_assets(self) -> Iterator[Asset]:
        """The asset itself."""
        yield self

    def iter_asset_aliases(self) -> Iterator[AssetAlias]:
        """Nothing: an asset names no alias."""
        return iter(())

    def iter_asset_refs(self) -> Iterator[AssetRef]:
        """Nothing: an asset names no reference."""
        return iter(())


class Dataset(Asset):
    """An asset whose group defaults to "dataset"."""

    asset_type: ClassVar[str] = "dataset"


class Model(Asset):
    """An asset whose group defaults to "model"."""

    asset_type: ClassVar[str] = "model"


class AssetRef(BaseAsset):
    """A reference to an asset defined elsewhere; made by ``Asset.ref``."""

    def iter_assets(self) -> Iterator[Asset]:
        """Nothing: the asset is only known once the reference is resolved."""
        return iter(())

    def iter_asset_aliases(self) -> Iterator[AssetAlias]:
        """Nothing: a reference names no alias."""
        return iter(())

    def iter_asset_refs(self) -> Iterator[AssetRef]:
        """The reference itself."""
        yield self


@dataclass(frozen=True)
class AssetNameRef(AssetRef):
    """A reference to the asset with this name."""

    name: str


@dataclass(frozen=True)
class AssetUriRef(AssetRef):
    """A reference to the asset with this URI."""

    uri: str


@dataclass(frozen=True)
class AssetAlias(BaseAsset):
    """A name for the assets that tasks attach to it at run time.

    ``outlet_events[alias].add(Asset(...))`` in a task with the alias in its outlets emits an
    event of that asset; DAGs scheduled on the alias run on it.

    Args:
        name: identifies the alias.
        group: groups aliases in the UI.

    Raises:
        ValueError: an identifier is not a string, too long or only whitespace, or the name
            is empty.

    """

    name: str
    group: str = field(default="asset", kw_only=True)

    def __post_init__(self) -> None:
        _check_identifier(self, "name", self.name, non_empty=True)
        _check_identifier(self, "group", self.group, non_empty=False)

    def iter_assets(self) -> Iterator[Asset]:
        """Nothing: the alias's assets are only known at run time."""
        return iter(())

    def iter_asset_aliases(self) -> Iterator[AssetAlias]:
        """The alias itself."""
        yield self

    def iter_asset_refs(self) -> Iterator[AssetRef]:
        """Nothing: an alias names no reference."""
        return iter(())


class AssetBooleanCondition(BaseAsset):
    """Assets, aliases, references and conditions combined; see ``AssetAll`` and ``AssetAny``.

    Raises:
        TypeError: a part is no asset expression.

    """

    objects: tuple[BaseAsset, ...]

    def __init__(self, *objects: BaseAsset) -> None:
        if not all(isinstance(obj, BaseAsset) for obj in objects):
            raise TypeError("expect asset expressions in condition")
        self.objects = objects

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(str, self.objects))})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.objects == other.objects

    def __hash__(self) -> int:
        return hash(self.objects)

    def iter_assets(self) -> Iterator[Asset]:
        """The assets of every part, in order."""
        for obj in self.objects:
            yield from obj.iter_assets()

    def iter_asset_aliases(self) -> Iterator[AssetAlias]:
        """The aliases of every part, in order."""
        for obj in self.objects:
            yield from obj.iter_asset_aliases()

    def iter_asset_refs(self) -> Iterator[AssetRef]:
        """The references of every part, in order."""
        for obj in self.objects:
            yield from obj.iter_asset_refs()


class AssetAny(AssetBooleanCondition):
    """Met when any of its parts is met (``a | b``)."""

    def __or__(self, other: BaseAsset) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        # (a | b) | c is a | b | c: one flat condition rather than nested ones.
        return AssetAny(*self.objects, other)


class AssetAll(AssetBooleanCondition):
    """Met when all of its parts are met (``a & b``)."""

    def __and__(self, other: BaseAsset) -> BaseAsset:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(*self.objects, other)


@dataclass
class Metadata:
    """What a task yields to give an outlet's event its extra (and attach it to an alias).

    Args:
        asset: the outlet asset whose event gets the extra.
        extra: merged into the event's extra.
        alias: when given, the asset is attached to this alias with the same extra.

    """

    asset: Asset
    extra: dict[str, Any] = field(default_factory=dict)
    alias: AssetAlias | None = None

    def __post_init__(self) -> None:
        if self.extra is None:
            self.extra = {}


def normalise_schedule_assets(schedule: object) -> BaseAsset:
    """The asset condition of a ``schedule`` argument that names assets.

    Args:
        schedule: an asset condition, or a list, tuple or set of asset expressions (all of
            which must have new events for the DAG to run).

    Returns:
        The condition; a collection becomes an ``AssetAll``.

    Raises:
        TypeError: ``schedule`` is neither, or holds something that is no asset expression.
        ValueError: the collection is empty.

    """
    if isinstance(schedule, BaseAsset):
        return schedule
    if not isinstance(schedule, list | tuple | set | frozenset):
        raise TypeError(
            f"an asset schedule is an asset condition or a list of assets, "
            f"not {type(schedule).__name__}"
        )
    items = list(schedule)
    if not items:
        raise ValueError(
            f"schedule={schedule!r} names no asset: list at least one Asset, AssetAlias or "
            "Asset.ref(...), or use schedule=None for a DAG that runs only when triggered"
        )
    for item in items:
        if not isinstance(item, BaseAsset):
            raise TypeError(
                "All elements in 'schedule' should be either assets, asset references, or asset "
                f"aliases, not {type(item).__name__}"
            )
    if isinstance(schedule, set | frozenset):
        # A set has no order; sort it so that the same DAG always serialises the same way.
        items.sort(key=repr)
    return AssetAll(*items)


def asset_message(asset: Asset) -> dag_pb2.Asset:
    """An asset as the contract's ``Asset`` message.

    Raises:
        TypeError: its extra is not JSON.

    """
    try:
        extra_json = json.dumps(asset.extra, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise TypeError(f"the extra of {asset!r} is not JSON: {err}") from err
    message = dag_pb2.Asset(
        name=asset.name, uri=asset.uri, group=asset.group, extra_json=extra_json
    )
    access = asset.access_control.message()
    if access is not None:
        message.access_control.CopyFrom(access)
    return message


def asset_from_message(message: dag_pb2.Asset) -> Asset:
    """The asset of an ``Asset`` message (a plain ``Asset``, whatever its group)."""
    extra = json.loads(message.extra_json) if message.extra_json else {}
    return Asset(name=message.name, uri=message.uri, group=message.group, extra=extra)


def _alias_message(alias: AssetAlias) -> dag_pb2.AssetAlias:
    return dag_pb2.AssetAlias(name=alias.name, group=alias.group)


def _reference_message(ref: AssetRef) -> dag_pb2.AssetReference:
    if isinstance(ref, AssetNameRef):
        return dag_pb2.AssetReference(name=ref.name)
    if isinstance(ref, AssetUriRef):
        return dag_pb2.AssetReference(uri=ref.uri)
    raise TypeError(f"unknown asset reference {type(ref).__name__}")


def _reference_from_message(message: dag_pb2.AssetReference) -> AssetRef:
    key = message.WhichOneof("key")
    if key == "name":
        return AssetNameRef(message.name)
    if key == "uri":
        return AssetUriRef(message.uri)
    raise ValueError("an AssetReference message needs a name or a uri")


def condition_message(obj: BaseAsset) -> dag_pb2.AssetCondition:
    """An asset condition as the contract's ``AssetCondition`` message.

    Raises:
        TypeError: ``obj`` is no asset expression this module defines.

    """
    if isinstance(obj, Asset):
        return dag_pb2.AssetCondition(asset=asset_message(obj))
    if isinstance(obj, AssetAlias):
        return dag_pb2.AssetCondition(alias=_alias_message(obj))
    if isinstance(obj, AssetRef):
        return dag_pb2.AssetCondition(reference=_reference_message(obj))
    if isinstance(obj, AssetAll | AssetAny):
        parts = dag_pb2.AssetConditions(parts=[condition_message(o) for o in obj.objects])
        if isinstance(obj, AssetAll):
            return dag_pb2.AssetCondition(all=parts)
        return dag_pb2.AssetCondition(any=parts)
    raise TypeError(f"cannot serialise {type(obj).__name__} as an asset condition")


def condition_from_message(message: dag_pb2.AssetCondition) -> BaseAsset:
    """The asset condition of an ``AssetCondition`` message.

    Raises:
        ValueError: the message (or one of its parts) has no kind set.

    """
    kind = message.WhichOneof("kind")
    if kind == "asset":
        return asset_from_message(message.asset)
    if kind == "alias":
        return AssetAlias(message.alias.name, group=message.alias.group)
    if kind == "reference":
        return _reference_from_message(message.reference)
    if kind == "all":
        return AssetAll(*(condition_from_message(p) for p in message.all.parts))
    if kind == "any":
        return AssetAny(*(condition_from_message(p) for p in message.any.parts))
    raise ValueError("an AssetCondition message needs an asset, alias, reference, all or any")


def is_task_asset(obj: object) -> bool:
    """Whether an inlet or outlet has asset semantics (other lineage objects are ignored)."""
    return isinstance(obj, Asset | AssetAlias | AssetRef)


def task_asset_message(obj: Asset | AssetAlias | AssetRef) -> dag_pb2.TaskAsset:
    """A task's inlet or outlet as the contract's ``TaskAsset`` message.

    Raises:
        TypeError: ``obj`` is no asset, alias or reference.

    """
    if isinstance(obj, Asset):
        return dag_pb2.TaskAsset(asset=asset_message(obj))
    if isinstance(obj, AssetAlias):
        return dag_pb2.TaskAsset(alias=_alias_message(obj))
    if isinstance(obj, AssetRef):
        return dag_pb2.TaskAsset(reference=_reference_message(obj))
    raise TypeError(
        "a task's inlets and outlets are Asset, AssetAlias or Asset.ref(...), "
        f"not {type(obj).__name__}"
    )


def task_asset_from_message(message: dag_pb2.TaskAsset) -> Asset | AssetAlias | AssetRef:
    """The inlet or outlet of a ``TaskAsset`` message.

    Raises:
        ValueError: the message has no kind set.

    """
    kind = message.WhichOneof("kind")
    if kind == "asset":
        return asset_from_message(message.asset)
    if kind == "alias":
        return AssetAlias(message.alias.name, group=message.alias.group)
    if kind == "reference":
        return _reference_from_message(message.reference)
    raise ValueError("a TaskAsset message needs an asset, alias or reference")


def watcher_messages(condition: BaseAsset | None) -> list[dag_pb2.AssetWatcherDefinition]:
    """The watchers on the assets of a schedule's condition, for the DAG's definition."""
    from tradewind.sdk.triggers.base import BaseEventTrigger, serialized_trigger

    found = []
    seen: set[tuple[str, str, str]] = set()
    for asset in condition.iter_assets() if condition is not None else ():
        for watcher in asset.watchers:
            if (asset.name, asset.uri, watcher.name) in seen:
                continue
            seen.add((asset.name, asset.uri, watcher.name))
            classpath, kwargs_json = serialized_trigger(watcher.trigger)
            found.append(
                dag_pb2.AssetWatcherDefinition(
                    asset=asset_message(asset),
                    name=watcher.name,
                    classpath=classpath,
                    kwargs_json=kwargs_json,
                    trigger_hash=BaseEventTrigger.hash(classpath, watcher.trigger.serialize()[1]),
                )
            )
    return found
