"""``asset_state_store`` (Airflow 3.3): key/values kept per asset, across runs.

In a task, ``context["asset_state_store"][asset]`` reads and writes the keys of one of the
task's inlets or outlets, such as a watermark of what was already processed; a task with a
single concrete inlet or outlet may call the methods on ``context["asset_state_store"]``
itself. Each method has an async twin (``aget``, ``aset``, ``adelete``, ``aclear``). An asset
watcher's event trigger finds the stores of the assets it watches as
``self.asset_state_store``::

    @task(inlets=[orders])
    def load_new_orders(*, asset_state_store):
        store = asset_state_store[orders]
        since = store.get("watermark", "1970-01-01")
        rows = fetch_orders(after=since)
        store.set("watermark", max(r["at"] for r in rows))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from tradewind.sdk.assets import Asset, AssetNameRef, AssetUriRef
from tradewind.sdk.runtime import current_runtime


@contextlib.contextmanager
def asset_state_errors(ref: AssetNameRef | AssetUriRef) -> Iterator[None]:
    """Turn the state service's refusals of an asset state call into Python's errors.

    NOT_FOUND becomes ``KeyError``, PERMISSION_DENIED ``PermissionError``.
    """
    import grpc

    try:
        yield
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            raise KeyError(ref) from err
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            raise PermissionError(err.details()) from err
        raise


class AssetStateBackend(Protocol):
    """Where an asset's keys are read and written: the task runtime, or a watcher's channel."""

    def get_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> str | None:
        """The JSON of a key, or None."""
        ...

    def set_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str, value_json: str) -> None:
        """Write a key."""
        ...

    def delete_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> bool:
        """Delete a key."""
        ...

    def clear_asset_state(self, ref: AssetNameRef | AssetUriRef) -> int:
        """Delete every key."""
        ...


class AssetStateStoreAccessor:
    """The state store of one asset, found by its name or its URI."""

    def __init__(
        self,
        *,
        name: str | None = None,
        uri: str | None = None,
        backend: AssetStateBackend | None = None,
    ) -> None:
        if (name is None) == (uri is None):
            raise ValueError("give exactly one of name and uri")
        self._ref: AssetNameRef | AssetUriRef = (
            AssetNameRef(name) if name is not None else AssetUriRef(str(uri))
        )
        self._backend = backend

    def _store(self) -> AssetStateBackend:
        return self._backend if self._backend is not None else current_runtime()

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when it is not set."""
        text = self._store().get_asset_state(self._ref, key)
        return json.loads(text) if text is not None else default

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (any JSON value but None) under ``key``.

        Raises:
            ValueError: ``value`` is None (delete the key instead).
            TypeError: ``value`` is not JSON-serialisable.

        """
        if value is None:
            raise ValueError("Cannot set value as None")
        self._store().set_asset_state(self._ref, key, json.dumps(value))

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a key that is not set is not an error."""
        self._store().delete_asset_state(self._ref, key)

    def clear(self) -> None:
        """Delete every key of the asset."""
        self._store().clear_asset_state(self._ref)

    async def aget(self, key: str, default: Any = None) -> Any:
        """``get`` without blocking the event loop."""
        return await asyncio.to_thread(self.get, key, default)

    async def aset(self, key: str, value: Any) -> None:
        """``set`` without blocking the event loop."""
        await asyncio.to_thread(self.set, key, value)

    async def adelete(self, key: str) -> None:
        """``delete`` without blocking the event loop."""
        await asyncio.to_thread(self.delete, key)

    async def aclear(self) -> None:
        """``clear`` without blocking the event loop."""
        await asyncio.to_thread(self.clear)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetStateStoreAccessor) and other._ref == self._ref

    def __hash__(self) -> int:
        return hash(self._ref)

    def __repr__(self) -> str:
        return f"<AssetStateStoreAccessor {self._ref!r}>"


class AssetStateStoreAccessors:
    """The state stores of a task's concrete inlets and outlets, by asset.

    ``context["asset_state_store"][asset]`` picks one; with exactly one concrete inlet or
    outlet, ``get``/``set``/``delete``/``clear`` (and their async twins) act on it directly.
    Aliases give no access (a task may attach any asset to one).
    """

    def __init__(
        self,
        inlets: Iterable[Any],
        outlets: Iterable[Any] = (),
        *,
        backend: AssetStateBackend | None = None,
    ) -> None:
        self._backend = backend
        self._by_name: dict[str, AssetStateStoreAccessor] = {}
        self._by_uri: dict[str, AssetStateStoreAccessor] = {}
        for inlet in inlets:
            if isinstance(inlet, Asset | AssetNameRef):
                self._by_name[inlet.name] = AssetStateStoreAccessor(
                    name=inlet.name, backend=backend
                )
            elif isinstance(inlet, AssetUriRef):
                self._by_uri[inlet.uri] = AssetStateStoreAccessor(uri=inlet.uri, backend=backend)
        for outlet in outlets:
            # Alias outlets are for emitting events, not for state.
            if isinstance(outlet, Asset | AssetNameRef) and outlet.name not in self._by_name:
                self._by_name[outlet.name] = AssetStateStoreAccessor(
                    name=outlet.name, backend=backend
                )
            elif isinstance(outlet, AssetUriRef) and outlet.uri not in self._by_uri:
                self._by_uri[outlet.uri] = AssetStateStoreAccessor(uri=outlet.uri, backend=backend)
        self._total = len(self._by_name) + len(self._by_uri)

    def __getitem__(self, key: Asset | AssetNameRef | AssetUriRef) -> AssetStateStoreAccessor:
        if isinstance(key, Asset | AssetNameRef) and key.name in self._by_name:
            return self._by_name[key.name]
        if isinstance(key, Asset | AssetUriRef) and key.uri in self._by_uri:
            return self._by_uri[key.uri]
        raise KeyError(f"{key!r} is neither an inlet nor an outlet of this task")

    def _single(self) -> AssetStateStoreAccessor:
        if self._total != 1:
            raise ValueError(
                f"Task has {self._total} concrete inlets and outlets — use"
                " context['asset_state_store'][MY_ASSET] to specify which"
            )
        return next(iter([*self._by_name.values(), *self._by_uri.values()]))

    def get(self, key: str, default: Any = None) -> Any:
        """``get`` of the task's one concrete inlet or outlet."""
        return self._single().get(key, default)

    def set(self, key: str, value: Any) -> None:
        """``set`` of the task's one concrete inlet or outlet."""
        self._single().set(key, value)

    def delete(self, key: str) -> None:
        """``delete`` of the task's one concrete inlet or outlet."""
        self._single().delete(key)

    def clear(self) -> None:
        """``clear`` of the task's one concrete inlet or outlet."""
        self._single().clear()

    async def aget(self, key: str, default: Any = None) -> Any:
        """``aget`` of the task's one concrete inlet or outlet."""
        return await self._single().aget(key, default)

    async def aset(self, key: str, value: Any) -> None:
        """``aset`` of the task's one concrete inlet or outlet."""
        await self._single().aset(key, value)

    async def adelete(self, key: str) -> None:
        """``adelete`` of the task's one concrete inlet or outlet."""
        await self._single().adelete(key)

    async def aclear(self) -> None:
        """``aclear`` of the task's one concrete inlet or outlet."""
        await self._single().aclear()

    def __repr__(self) -> str:
        parts = [f"name={k!r}" for k in self._by_name] + [f"uri={k!r}" for k in self._by_uri]
        return f"<AssetStateStoreAccessors [{', '.join(parts)}]>"
