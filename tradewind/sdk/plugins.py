"""Users' classes the scheduler loads: timetables, partition mappers and windows.

Such a class lives in a module of the plugins folder (``--plugins-folder``), which the DAG
processor, the scheduler and the executors share. A DAG names it by ``module.ClassName`` (the
module's path relative to the folder) with what its ``serialize()`` returned, and the
scheduler rebuilds it with the class's ``deserialize()``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tradewind_common import config as cfg

#: The variable that tells DAG files where the plugins folder is (set from
#: ``--plugins-folder``).
PLUGINS_FOLDER_VARIABLE = cfg.PLUGINS_FOLDER.env


def plugin_reference(obj: object, what: str) -> tuple[str, str]:
    """How a DAG names a user's object: its class path and its ``serialize()`` as JSON.

    Args:
        obj: an instance of a class defined in the plugins folder.
        what: what it is, for errors ("timetable", "partition mapper").

    Raises:
        ValueError: no plugins folder is set, the class is defined elsewhere or imported by
            another name than the folder gives it, or ``serialize()`` is not JSON-encodable.

    """
    cls = type(obj)
    module = sys.modules.get(cls.__module__)
    where = os.environ.get(PLUGINS_FOLDER_VARIABLE, "")
    source = getattr(module, "__file__", None) or "<unknown>"
    if not where:
        raise ValueError(
            f"{what} {cls.__qualname__} is defined in {source}, but no plugins folder is set"
            f" (--plugins-folder or {PLUGINS_FOLDER_VARIABLE}): the scheduler loads {what}s"
            " from there"
        )
    folder = Path(where).expanduser().resolve()
    if not Path(source).resolve().is_relative_to(folder):
        raise ValueError(
            f"{what} {cls.__qualname__} is defined in {source}, not in the plugins folder"
            f" {folder}: move it into a module there so that the scheduler can load it"
        )
    if "." in cls.__qualname__ or "<" in cls.__qualname__:
        raise ValueError(f"{what} {cls.__qualname__} must be a module-level class")
    parts = list(Path(source).resolve().relative_to(folder).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if ".".join(parts) != cls.__module__:
        raise ValueError(
            f"{what} {cls.__qualname__} is imported as module {cls.__module__!r}, but the"
            f" plugins folder {folder} holds it as {'.'.join(parts)!r}: import it by that name"
            " (from the plugins folder, not through another path) so the scheduler finds it"
        )
    serialize = getattr(obj, "serialize", None)
    try:
        serialized = json.dumps(serialize() if callable(serialize) else {})
    except (TypeError, ValueError) as err:
        raise ValueError(f"{cls.__qualname__}.serialize() is not JSON-encodable: {err}") from err
    return f"{cls.__module__}.{cls.__qualname__}", serialized
