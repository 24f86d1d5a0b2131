"""``FileTrigger``: fires when a file (or a glob) exists."""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import AsyncIterator
from typing import Any

from tradewind.sdk.triggers.base import BaseTrigger, TriggerEvent, classpath_of


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
