"""File triggers: ``FileTrigger`` fires when a file exists.

The event triggers ``FileDeleteTrigger`` and ``DirectoryFileDeleteTrigger`` take (delete) the
file they find, for an asset watcher.
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import AsyncIterator
from typing import Any

from tradewind.sdk.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent, classpath_of


def _found(filepath: str, recursive: bool) -> str | None:
    for path in glob.glob(filepath, recursive=recursive):
        if os.path.isfile(path):
            return path
        for _, _, files in os.walk(path):
            if files:
                return path
    return None


class FileTrigger(BaseTrigger):
    """Fires once ``filepath`` (a path or glob) matches a file, or a folder holding files."""

    def __init__(
        self, filepath: str, recursive: bool = False, poke_interval: float = 5.0, **kwargs: Any
    ) -> None:
        super().__init__()
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path, the path and the interval."""
        return classpath_of(FileTrigger), {
            "filepath": self.filepath,
            "recursive": self.recursive,
            "poke_interval": self.poke_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look every ``poke_interval`` seconds (off the event loop), fire when found."""
        while True:
            path = await asyncio.to_thread(_found, self.filepath, self.recursive)
            if path is not None:
                self.log.info("Found file %s", path)
                yield TriggerEvent(True)
                return
            await asyncio.sleep(self.poke_interval)


def _take(path: str) -> bool:
    """Delete ``path`` if it is a file; whether this call deleted it."""
    if not os.path.isfile(path):
        return False
    try:
        os.remove(path)
    except FileNotFoundError:  # another watcher (or person) took it first
        return False
    return True


class FileDeleteTrigger(BaseEventTrigger):
    """Fires once ``filepath`` exists as a file, after deleting it.

    For an ``AssetWatcher``, every file that lands there becomes one asset event.

    Args:
        filepath: the file's path (not a glob).
        poke_interval: seconds between looks.

    """

    def __init__(self, filepath: str, poke_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__()
        self.filepath = filepath
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path, the path and the interval."""
        return classpath_of(FileDeleteTrigger), {
            "filepath": self.filepath,
            "poke_interval": self.poke_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look every ``poke_interval`` seconds (off the event loop); delete, then fire."""
        while True:
            # Looked for off the loop, taken on it: a cancellation cannot fall between the
            # file's deletion and the event.
            if await asyncio.to_thread(os.path.isfile, self.filepath) and _take(self.filepath):
                self.log.info("File %s has been deleted", self.filepath)
                yield TriggerEvent(True)
                return
            await asyncio.sleep(self.poke_interval)


class DirectoryFileDeleteTrigger(BaseEventTrigger):
    """Fires once ``filename`` appears in ``directory``, after deleting it.

    The event's payload is ``{"filepath": <its path>}``.

    Args:
        directory: the folder to look in (a missing one is looked in again later).
        filename: the file's name, without its folder.
        poke_interval: seconds between looks.

    """

    def __init__(self, *, directory: str, filename: str, poke_interval: float = 5.0) -> None:
        super().__init__()
        self.directory = directory
        self.filename = filename
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path, the folder, the name and the interval."""
        return classpath_of(DirectoryFileDeleteTrigger), {
            "directory": self.directory,
            "filename": self.filename,
            "poke_interval": self.poke_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look every ``poke_interval`` seconds (off the event loop); delete, then fire."""
        path = os.path.join(self.directory, self.filename)
        while True:
            if await asyncio.to_thread(os.path.isfile, path) and _take(path):
                self.log.info("File %s has been deleted", path)
                yield TriggerEvent({"filepath": path})
                return
            await asyncio.sleep(self.poke_interval)
