"""The trigger API users subclass, as in Airflow: ``serialize()``, async ``run()``, ``cleanup()``.

A trigger is built in the task process (``self.defer(trigger=...)``), stored as its
``serialize()`` result (classpath and keyword arguments) and rebuilt in a triggerer replica,
which runs ``run()`` as a coroutine among thousands of others. The first event it yields
resumes the task; the trigger may run more than once (its replica died), so ``run()`` must be
safe to repeat. ``run()`` must never block the event loop: use ``asyncio.sleep`` and async
I/O, or ``asyncio.to_thread`` for blocking calls.
"""

from __future__ import annotations

import abc
import hashlib
import importlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from tradewind.sdk import serde


class TriggerEvent:
    """What a trigger yields: its payload reaches the resumed task as ``event``."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(repr(self.payload))


class BaseTrigger(abc.ABC):
    """Base class of every trigger."""

    def __init__(self, **kwargs: Any) -> None:
        #: Set by the triggerer: the task instance's key and the trigger's id.
        self.task_instance: Any = None
        self.trigger_id: int | None = None

    @property
    def log(self) -> logging.Logger:
        """The trigger's logger."""
        return logging.getLogger(f"tradewind.trigger.{type(self).__qualname__}")

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The trigger's class path and the keyword arguments that rebuild it."""

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, then yield one or more events (the first one counts)."""

    async def cleanup(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called when the trigger stops (fired, cancelled, or its replica stops)."""

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        arguments = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        return f"<{classpath} {arguments}>"


class BaseEventTrigger(BaseTrigger):
    """A trigger for event-driven scheduling: one an ``AssetWatcher`` may run.

    The triggerer runs it for as long as a DAG scheduled on its asset is active and unpaused,
    and again each time ``run()`` ends; every event it yields is an event of the asset (its
    extra ``{"from_trigger": True, "payload": <the event's payload>}``). Watchers with the same
    class and kwargs share one run. ``self.asset_state_store`` holds the state stores of the
    assets it watches (``self.asset_state_store[asset].get("watermark")``).
    """

    #: Set by the triggerer before ``run()``: an ``AssetStateStoreAccessors``.
    asset_state_store: Any = None

    @staticmethod
    def hash(classpath: str, kwargs: dict[str, Any]) -> str:
        """What identifies a trigger: its class path and its kwargs."""
        canonical = json.dumps(json.loads(serde.dumps(dict(kwargs))), sort_keys=True)
        return hashlib.sha256(f"{classpath}\n{canonical}".encode()).hexdigest()


def classpath_of(cls: type) -> str:
    """The path ``module.ClassName`` under which a trigger class imports."""
    return f"{cls.__module__}.{cls.__qualname__}"


def serialized_trigger(trigger: BaseTrigger) -> tuple[str, str]:
    """A trigger's class path and keyword arguments as JSON, checked to be storable.

    Raises:
        TypeError: it is no BaseTrigger, or its kwargs hold what cannot be stored.

    """
    if not isinstance(trigger, BaseTrigger):
        raise TypeError(f"defer(trigger=...) needs a BaseTrigger, not {type(trigger).__name__}")
    classpath, kwargs = trigger.serialize()
    if not isinstance(classpath, str) or "." not in classpath:
        raise TypeError(f"{type(trigger).__name__}.serialize() must return 'module.ClassName'")
    return classpath, serde.dumps(dict(kwargs))


def load_trigger(classpath: str, kwargs_json: str) -> BaseTrigger:
    """Rebuild a trigger from its class path and JSON kwargs.

    Raises:
        ImportError: the class cannot be imported.
        TypeError: it is no BaseTrigger, or refuses its kwargs.

    """
    module_name, _, class_name = classpath.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"cannot import trigger module {module_name!r}: {err}") from err
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ImportError(f"module {module_name!r} has no trigger class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, BaseTrigger)):
        raise TypeError(f"{classpath} is not a BaseTrigger subclass")
    kwargs = serde.loads(kwargs_json) or {}
    return cls(**kwargs)
