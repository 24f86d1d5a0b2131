"""LatestOnlyOperator: run the downstream tasks only in the latest scheduled run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from core.states import DagRunType
from core.timetables import DataInterval, next_data_interval
from core.timetables import ScheduleSpec as Timetable
from tradewind.sdk import clock
from tradewind.sdk.operators.branch import BaseBranchOperator
from tradewind.sdk.schedule import ScheduleKind, ScheduleSpec

_TICK = timedelta(microseconds=1)


class LatestOnlyOperator(BaseBranchOperator):
    """Skip the direct downstream tasks unless this run is the latest scheduled one.

    As in Airflow 3: a manual run never skips; a scheduled or backfill run is the latest when
    now falls in (the end of the interval before the run's, the end of the interval after
    it]; a run after which the schedule makes no interval ("@once", no schedule) is the
    latest. Tasks further downstream follow their trigger rules.
    """

    ui_color = "#e9ffdb"

    def choose_branch(self, context: Mapping[str, Any]) -> list[str]:
        """Every direct downstream task when the run is the latest (or manual), else none.

        Args:
            context: the task instance's context; its ``dag_run`` gives the run's type and
                data interval.

        Returns:
            The task ids to follow.

        """
        run = context["dag_run"]
        follow_all = sorted(self.get_direct_relative_ids(upstream=False))
        if run.run_type == DagRunType.MANUAL:
            self.log.info("manual run: the downstream tasks run")
            return follow_all
        dag = self._require_dag()
        start = run.data_interval_start or run.logical_date
        end = run.data_interval_end or run.logical_date
        window = latest_window(dag.schedule_spec, dag.timezone_name, DataInterval(start, end))
        if window is None:
            self.log.info("the schedule makes no run after this one: the downstream tasks run")
            return follow_all
        now = clock.utcnow()
        left, right = window
        if not left < now <= right:
            self.log.info(
                "not the latest run (now %s is outside (%s, %s]): skipping", now, left, right
            )
            return []
        self.log.info(
            "the latest run (now %s is in (%s, %s]): the downstream tasks run", now, left, right
        )
        return follow_all


def latest_window(
    spec: ScheduleSpec, timezone: str, current: DataInterval
) -> tuple[datetime, datetime] | None:
    """When a run with data interval ``current`` is the latest: ``left < now <= right``.

    ``left`` is the end of the interval the schedule makes before ``current`` (its start
    when there is none), ``right`` the end of the one after.

    Args:
        spec: the DAG's schedule.
        timezone: the IANA name of the DAG's time zone.
        current: the run's data interval.

    Returns:
        ``(left, right)``, or None when the schedule makes no interval after ``current``.

    """
    timetable = timetable_of(spec, timezone)
    before = next_data_interval(timetable, after=current, latest=current.end - _TICK)
    left = before.end if before is not None else current.start
    following = next_data_interval(timetable, after=current, earliest=current.end)
    if following is None:
        return None
    return left, following.end


def timetable_of(spec: ScheduleSpec, timezone: str) -> Timetable:
    """The schedule as the scheduler's timetable rules read it."""
    return Timetable(
        cron=spec.cron if spec.kind is ScheduleKind.CRON else "",
        interval=spec.interval if spec.kind is ScheduleKind.INTERVAL else None,
        once=spec.kind is ScheduleKind.ONCE,
        timezone=timezone or "UTC",
    )
