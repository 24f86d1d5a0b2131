"""Timetables: schedules written as objects, as Airflow's ``airflow.sdk`` offers them.

``CronDataIntervalTimetable`` and ``DeltaDataIntervalTimetable`` are what a cron string and a
``timedelta`` mean (each run covers the interval since the previous tick and starts when it
ends); ``AssetOrTimeSchedule`` runs on a timetable and on asset events both.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING

from tradewind.sdk.schedule import CRON_PRESETS

if TYPE_CHECKING:
    from tradewind.sdk.assets import BaseAsset


class Timetable:
    """The base of every timetable a DAG's ``schedule`` accepts."""

    #: Shown as the DAG's schedule.
    summary: str = ""


class CronDataIntervalTimetable(Timetable):
    """Data intervals between the ticks of a cron expression (``schedule="0 0 * * *"``).

    Args:
        cron: a five-field cron expression or a preset ("@daily").
        timezone: the zone the expression is read in (an IANA name or a tzinfo); the DAG's
            start date's zone by default.

    """

    def __init__(self, cron: str, timezone: str | tzinfo | None = None) -> None:
        self.expression = CRON_PRESETS.get(cron, cron)
        self.timezone = timezone
        self.summary = cron

    def __repr__(self) -> str:
        return f"CronDataIntervalTimetable({self.expression!r}, timezone={self.timezone!r})"


class DeltaDataIntervalTimetable(Timetable):
    """Data intervals of a fixed length (``schedule=timedelta(hours=1)``).

    Args:
        delta: the length of each interval, positive.

    """

    def __init__(self, delta: timedelta) -> None:
        self.delta = delta
        self.summary = str(delta)

    def __repr__(self) -> str:
        return f"DeltaDataIntervalTimetable({self.delta!r})"


class AssetOrTimeSchedule(Timetable):
    """Run on a timetable, and also whenever an asset condition holds.

    Args:
        timetable: the time-based part.
        assets: an asset, a condition (``a & b``, ``a | b``) or a list of assets (all of them).

    """

    def __init__(self, *, timetable: Timetable, assets: BaseAsset | list[BaseAsset]) -> None:
        from tradewind.sdk.assets import normalise_schedule_assets

        if isinstance(timetable, AssetOrTimeSchedule) or not isinstance(timetable, Timetable):
            raise TypeError(
                "AssetOrTimeSchedule's timetable must be a time-based timetable such as"
                f" CronDataIntervalTimetable, got {timetable!r}"
            )
        self.timetable = timetable
        self.asset_condition = normalise_schedule_assets(assets)
        self.summary = f"Asset or {timetable.summary}"

    def __repr__(self) -> str:
        return f"AssetOrTimeSchedule(timetable={self.timetable!r}, assets={self.asset_condition!r})"
