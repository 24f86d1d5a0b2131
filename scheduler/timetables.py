"""A DAG's timetable as the scheduler uses it: the built-in kinds' rules, or a user's class.

A user's timetable (``custom``) is loaded from the plugins folder and asked through Airflow's
timetable API (``next_dagrun_info``, ``infer_manual_data_interval``).
"""

from __future__ import annotations

import importlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.timetables import DataInterval, TimeRestriction, Timetable
from protos.dag.v1 import message_pb2 as dag_pb2
from services.runtime.timetables import builtin_timetable


class TimetableNotInstalled(LookupError):
    """A DAG names a timetable (or partition mapper) class the plugins folder does not hold."""


class TimetableFailed(RuntimeError):
    """A user's timetable raised, or answered with something that is not a run."""


def timetable_of(schedule: dag_pb2.Schedule, plugins_folder: Path | None = None) -> Timetable:
    """The rules of a DAG's schedule, a user's timetable loaded from the plugins folder.

    Args:
        schedule: the DAG's schedule.
        plugins_folder: where users' timetable classes are installed (for ``custom``).

    Raises:
        TimetableNotInstalled: a user's timetable that cannot be loaded.

    """
    builtin = builtin_timetable(schedule)
    if builtin is not None:
        return builtin
    return UserTimetable(load_timetable(schedule.custom, plugins_folder))


def load_timetable(custom: dag_pb2.CustomTimetable, plugins_folder: Path | None) -> Any:
    """A user's timetable, rebuilt by its class's ``deserialize`` from the plugins folder.

    Raises:
        TimetableNotInstalled: the class's module is not in the plugins folder (or fails to
            import), the class is missing, or it cannot read its serialised form.

    """
    return load_plugin_object(
        custom.class_path, custom.serialized_json, plugins_folder, "timetable"
    )


def load_plugin_object(
    class_path: str, serialized_json: str, plugins_folder: Path | None, what: str
) -> Any:
    """A user's object (timetable, partition mapper, window) rebuilt from the plugins folder.

    Its class's ``deserialize`` reads ``serialized_json``.

    Raises:
        TimetableNotInstalled: the class's module is not in the plugins folder (or fails to
            import), the class is missing, or it cannot read its serialised form.

    """
    module_name, _, class_name = class_path.rpartition(".")
    where = f"the plugins folder {plugins_folder}" if plugins_folder else "no plugins folder"
    if not module_name:
        raise TimetableNotInstalled(f"{what} {class_path!r} names no module")
    if plugins_folder is not None and str(plugins_folder) not in sys.path:
        sys.path.append(str(plugins_folder))  # appended: plugins shadow no library
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except Exception as err:  # a user's module: anything may go wrong while importing it
        raise TimetableNotInstalled(
            f"{what} {class_path!r} is not installed ({where} is searched):"
            f" {type(err).__name__}: {err}"
        ) from err
    try:
        data = json.loads(serialized_json) if serialized_json else {}
        return cls.deserialize(data)
    except Exception as err:  # user code
        raise TimetableNotInstalled(
            f"{what} {class_path!r} could not read its serialised form: {type(err).__name__}: {err}"
        ) from err


class UserTimetable(Timetable):
    """A user's timetable behind ``core``'s interface, asked as Airflow asks it."""

    def __init__(self, timetable: Any) -> None:
        self.timetable = timetable
        self.active_runs_limit = getattr(timetable, "active_runs_limit", None)

    def next_run(
        self, last: DataInterval | None, restriction: TimeRestriction, now: datetime
    ) -> DataInterval | None:
        """See :meth:`Timetable.next_run`."""
        from tradewind.sdk import timetables as sdk

        try:
            info = self.timetable.next_dagrun_info(
                last_automated_data_interval=(
                    sdk.DataInterval(last.start, last.end) if last is not None else None
                ),
                restriction=sdk.TimeRestriction(
                    restriction.earliest, restriction.latest, restriction.catchup
                ),
            )
        except Exception as err:  # user code
            raise TimetableFailed(
                f"{type(self.timetable).__name__}.next_dagrun_info raised"
                f" {type(err).__name__}: {err}"
            ) from err
        if info is None:
            return None
        return _interval_of(info, self.timetable)

    def manual_interval(self, run_after: datetime) -> DataInterval:
        """See :meth:`Timetable.manual_interval`."""
        try:
            interval = self.timetable.infer_manual_data_interval(run_after=run_after)
            return DataInterval(_aware(interval.start), _aware(interval.end))
        except Exception as err:  # user code
            raise TimetableFailed(
                f"{type(self.timetable).__name__}.infer_manual_data_interval raised"
                f" {type(err).__name__}: {err}"
            ) from err


def _interval_of(info: Any, timetable: Any) -> DataInterval:
    name = type(timetable).__name__
    try:
        run_after = _aware(info.run_after)
        interval = info.data_interval
        if interval is None:
            return DataInterval(run_after, run_after)
        return DataInterval(_aware(interval.start), _aware(interval.end), run_after)
    except (AttributeError, TypeError, ValueError) as err:
        raise TimetableFailed(
            f"{name}.next_dagrun_info must return a DagRunInfo with aware datetimes, got"
            f" {info!r} ({err})"
        ) from err


def _aware(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{moment!r} is not a datetime")
    if moment.tzinfo is None:
        raise ValueError(f"{moment} is naive")
    return moment.astimezone(UTC)
