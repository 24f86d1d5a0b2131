"""FileSensor: wait for a file, a glob's match, or a folder holding files."""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.sdk.connection import Connection
from tradewind.sdk.exceptions import TradewindException
from tradewind.sdk.sensors.base import BaseSensorOperator
from tradewind.sdk.triggers.file import FileTrigger


class FileSensor(BaseSensorOperator):
    """Wait until ``filepath`` names a file, or a folder holding at least one file (at any depth).

    ``filepath`` is relative to the base path of the ``fs_conn_id`` connection (its extra's
    "path"; none when it has no such key) and may be a glob. The connection must exist, as in
    Airflow. With ``deferrable``, a first poke that finds nothing defers to a ``FileTrigger``
    with the sensor's timeout.

    Args:
        filepath: the file, folder or glob (templated).
        fs_conn_id: the connection whose extra's "path" is the base path.
        recursive: let ``**`` in the glob match any number of folders.
        deferrable: wait in the triggerer instead of poking from a worker.
        start_from_trigger: accepted for Airflow's signature; the task always starts in a
            worker.
        trigger_kwargs: accepted for Airflow's signature, with ``start_from_trigger``.
        **kwargs: BaseSensorOperator arguments.

    """

    template_fields: Sequence[str] = ("filepath",)
    display_fields: Sequence[str] = ("fs_conn_id", "recursive", "deferrable")
    ui_color = "#91818a"

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = "fs_default",
        recursive: bool = False,
        deferrable: bool = False,
        start_from_trigger: bool = False,
        trigger_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.deferrable = deferrable
        self.start_from_trigger = start_from_trigger

    @property
    def path(self) -> str:
        """``filepath`` under the connection's base path (read through the task runtime)."""
        base = Connection.get(self.fs_conn_id).extra_dejson.get("path", "")
        return os.path.join(str(base), self.filepath)

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Whether the path matches a file, or a folder with a file in it.

        Args:
            context: the task instance's context.

        Returns:
            True when found.

        """
        path = self.path
        self.log.info("Poking for file %s", path)
        for found in glob.glob(path, recursive=self.recursive):
            if os.path.isfile(found):
                modified = dt.datetime.fromtimestamp(os.path.getmtime(found), dt.UTC)
                self.log.info("Found File %s last modified: %s", found, modified.isoformat())
                return True
            for _, _, files in os.walk(found):
                if files:
                    return True
        return False

    def execute(self, context: Mapping[str, Any]) -> None:
        """Poke until found; with ``deferrable``, defer after one poke that found nothing.

        Args:
            context: the task instance's context.

        Raises:
            TaskDeferred: deferrable, and the file is not there yet.

        """
        if not self.deferrable:
            super().execute(context)
            return
        if not self.poke(context):
            self.defer(
                trigger=FileTrigger(
                    filepath=self.path, recursive=self.recursive, poke_interval=self.poke_interval
                ),
                method_name="execute_complete",
                timeout=dt.timedelta(seconds=self.timeout),
            )

    def execute_complete(self, context: Mapping[str, Any], event: bool | None = None) -> None:
        """Resume after the trigger fired.

        Args:
            context: the task instance's context.
            event: the trigger's payload, True when the file was found.

        Raises:
            TradewindException: the event says the file was not found.

        """
        if not event:
            raise TradewindException(f"{self.task_id} task failed as {self.filepath} not found.")
        self.log.info("%s completed successfully as %s found.", self.task_id, self.filepath)
