"""LatestOnlyOperator: run the downstream tasks only in the latest scheduled run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from core.states import DagRunType
from tradewind.sdk import clock
from tradewind.sdk.operators.branch import BaseBranchOperator
from tradewind.sdk.timetables import DataInterval, TimeRestriction, Timetable

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
        window = latest_window(dag.timetable, DataInterval(start, end))
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


def latest_window(timetable: Timetable, current: DataInterval) -> tuple[datetime, datetime] | None:
    """When a run with data interval ``current`` is the latest: ``left < now <= right``.

    ``left`` is the end of the interval the timetable makes before ``current`` (its start
    when there is none), ``right`` the end of the one after; asked through the timetable API,
    so a user's timetable answers too.

    Args:
        timetable: the DAG's timetable.
        current: the run's data interval.

    Returns:
        ``(left, right)``, or None when the timetable makes no run after ``current``.

    """
    before = timetable.next_dagrun_info(
        last_automated_data_interval=current,
        restriction=TimeRestriction(earliest=None, latest=current.end - _TICK, catchup=True),
    )
    left = before.data_interval.end if before and before.data_interval else current.start
    following = timetable.next_dagrun_info(
        last_automated_data_interval=current,
        restriction=TimeRestriction(earliest=current.end, latest=None, catchup=True),
    )
    if following is None or following.data_interval is None:
        return None
    return left, following.data_interval.end
