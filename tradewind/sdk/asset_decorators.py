"""``@asset`` and ``@asset.multi``: an asset defined by the function that materialises it.

As in Airflow 3: decorating a module-level function makes an asset (named after the function
unless ``name`` says otherwise) and a one-task DAG (its id the asset's name, catchup off)
whose task runs the function and produces the asset. The function's parameters without a
default name the assets it reads (its inlets, found by name at run time); ``self`` is the
asset itself, ``context`` the task's context and ``outlet_events`` the outlets' accessors.
``@asset.multi(outlets=[...])`` makes a DAG whose one task produces several assets; the
decorated function stands for all of them in schedules.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from tradewind.sdk.assets import Asset, AssetAll, AssetWatcher, BaseAsset
from tradewind.sdk.dag import DAG
from tradewind.sdk.operators.python import PythonOperator
from tradewind.sdk.runtime import TaskRuntime, current_runtime

#: Parameters that name no inlet asset.
_NOT_INLETS = ("self", "context", "outlet_events")


def _check_arguments(function: Callable[..., Any]) -> None:
    for name, param in inspect.signature(function).parameters.items():
        if param.kind == inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"wildcard '*{name}' is not supported in @asset")
        if param.kind == inspect.Parameter.VAR_KEYWORD:
            raise TypeError(f"wildcard '**{name}' is not supported in @asset")
        if param.kind == inspect.Parameter.POSITIONAL_ONLY and param.default is param.empty:
            raise TypeError(
                f"positional-only argument '{name}' without a default is not supported in @asset"
            )


def _check_module_level(function: Callable[..., Any]) -> None:
    if function.__name__ != function.__qualname__:
        raise ValueError("nested function not supported")


class AssetMainOperator(PythonOperator):
    """The task of an ``@asset`` DAG: calls the function with the assets it names."""

    def __init__(self, *, definition_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._definition_name = definition_name

    @classmethod
    def from_definition(
        cls, definition: AssetDefinition | MultiAssetDefinition
    ) -> AssetMainOperator:
        """The task that materialises ``definition``."""
        function = definition.function
        _check_arguments(function)
        parameters = inspect.signature(function).parameters
        return cls(
            task_id=function.__name__,
            inlets=[
                Asset.ref(name=name)
                for name, param in parameters.items()
                if name not in _NOT_INLETS and param.default is param.empty
            ],
            outlets=list(definition.iter_outlets()),
            python_callable=function,
            definition_name=definition.definition_name,
        )

    def determine_kwargs(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The function's arguments: its defaults, the context, the assets it names."""
        return dict(self._iter_kwargs(context))

    def _own_asset(self, runtime: TaskRuntime) -> Asset:
        for outlet in self.outlets:
            if isinstance(outlet, Asset) and outlet.name == self._definition_name:
                return outlet
        return runtime.resolve_asset(Asset.ref(name=self._definition_name))

    def _iter_kwargs(self, context: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        runtime = current_runtime()
        for key, param in inspect.signature(self.python_callable).parameters.items():
            if param.default is not param.empty:
                yield key, param.default
            elif key == "self":
                yield key, self._own_asset(runtime)
            elif key == "context":
                yield key, context
            elif key == "outlet_events":
                yield key, context["outlet_events"]
            else:
                yield key, runtime.resolve_asset(Asset.ref(name=key))


def _instantiate_task(definition: AssetDefinition | MultiAssetDefinition) -> None:
    function: Any = definition.function
    if getattr(function, "_airflow_is_task_decorator", False):
        if "outlets" in function.operator_kwargs:
            raise TypeError("@task decorator with 'outlets' argument is not supported in @asset")
        function.operator_kwargs["outlets"] = list(definition.iter_outlets())
        function()
    else:
        AssetMainOperator.from_definition(definition)


class _DagArguments:
    """The DAG arguments ``@asset`` and ``@asset.multi`` take."""

    def __init__(
        self,
        *,
        schedule: Any,
        is_paused_upon_creation: bool | None = None,
        dag_id: str | None = None,
        dag_display_name: str | None = None,
        description: str | None = None,
        params: Mapping[str, Any] | None = None,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        access_control: Mapping[str, Any] | None = None,
        owner_links: Mapping[str, str] | None = None,
        tags: Collection[str] = (),
    ) -> None:
        self.schedule = schedule
        self.is_paused_upon_creation = is_paused_upon_creation
        self.dag_id = dag_id
        self.dag_display_name = dag_display_name
        self.description = description
        self.params = params
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.access_control = access_control
        self.owner_links = dict(owner_links or {})
        self.tags = list(tags)

    def create_dag(self, *, default_dag_id: str) -> DAG:
        """The one-task DAG of the asset."""
        dag_id = self.dag_id or default_dag_id
        return DAG(
            dag_id=dag_id,
            schedule=self.schedule,
            is_paused_upon_creation=self.is_paused_upon_creation,
            catchup=False,
            dag_display_name=self.dag_display_name or dag_id,
            description=self.description,
            params=self.params,
            on_success_callback=self.on_success_callback,
            on_failure_callback=self.on_failure_callback,
            access_control=self.access_control,
            owner_links=self.owner_links,
            tags=self.tags,
        )


class AssetDefinition(Asset):
    """An asset made by ``@asset``: also a DAG that materialises it."""

    def __init__(
        self,
        *,
        name: str,
        uri: str,
        group: str,
        extra: dict[str, Any],
        watchers: list[AssetWatcher],
        function: Callable[..., Any],
        source: asset,
    ) -> None:
        super().__init__(name, uri, group=group, extra=extra, watchers=watchers)
        self.function = function
        self.definition_name = self.name
        with source.create_dag(default_dag_id=self.name):
            _instantiate_task(self)

    def iter_outlets(self) -> Iterator[BaseAsset]:
        """What its task produces: the asset itself."""
        yield self


class MultiAssetDefinition(AssetAll):
    """The assets ``@asset.multi`` makes, standing for all of them (``AssetAll``)."""

    def __init__(self, *, function: Callable[..., Any], source: _MultiAsset) -> None:
        super().__init__(*source.outlets)
        self.function = function
        self.definition_name = function.__name__
        with source.create_dag(default_dag_id=function.__name__):
            _instantiate_task(self)

    def iter_outlets(self) -> Iterator[BaseAsset]:
        """What its task produces: every outlet."""
        yield from self.objects


class _MultiAsset(_DagArguments):
    """``@asset.multi(outlets=[...], schedule=...)``: a one-task DAG producing several assets."""

    def __init__(self, *, outlets: Collection[BaseAsset], **dag_arguments: Any) -> None:
        super().__init__(**dag_arguments)
        self.outlets = list(outlets)

    def __call__(self, function: Callable[..., Any]) -> MultiAssetDefinition:
        """Make the assets' DAG from the function that materialises them."""
        _check_module_level(function)
        if not self.outlets:
            raise ValueError("no outlets provided")
        return MultiAssetDefinition(function=function, source=self)


class asset(_DagArguments):  # noqa: N801 - Airflow's name for the decorator
    """Create an asset by decorating the function that materialises it.

    Args:
        schedule: when the asset's DAG runs (as ``DAG(schedule=...)``).
        name: the asset's name; the function's name by default.
        uri: the asset's URI; its name by default.
        group: the asset's group ("asset").
        extra: the asset's static extra.
        watchers: watchers that emit the asset's events from outside.
        **dag_arguments: ``dag_id`` (the asset's name by default), ``description``,
            ``params``, ``tags``, ``is_paused_upon_creation``, the callbacks, as for DAG.

    """

    multi = _MultiAsset

    def __init__(
        self,
        *,
        schedule: Any,
        name: str | None = None,
        uri: str | None = None,
        group: str = Asset.asset_type,
        extra: dict[str, Any] | None = None,
        watchers: list[AssetWatcher] | None = None,
        **dag_arguments: Any,
    ) -> None:
        super().__init__(schedule=schedule, **dag_arguments)
        self.name = name
        self.uri = uri
        self.group = group
        self.extra = dict(extra or {})
        self.watchers = list(watchers or [])

    def __call__(self, function: Callable[..., Any]) -> AssetDefinition:
        """Make the asset and its DAG from the function that materialises it."""
        _check_module_level(function)
        name = self.name or function.__name__
        return AssetDefinition(
            name=name,
            uri=name if self.uri is None else str(self.uri),
            group=self.group,
            extra=self.extra,
            watchers=self.watchers,
            function=function,
            source=self,
        )
