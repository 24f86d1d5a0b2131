"""A DAG's schedule as the contract carries it, turned into the timetable rules of ``core``.

Shared by the scheduler (when runs are due) and the state service (a manual run's data
interval). A user's timetable (``custom``) is not built here: only the scheduler loads users'
classes (see :mod:`scheduler.timetables`).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from core.timetables import (
    PRESETS,
    Continuous,
    CronIntervals,
    CronTriggers,
    DeltaIntervals,
    DeltaTriggers,
    Events,
    Manual,
    MultipleCronTriggers,
    Once,
    Timetable,
)
from protos.dag.v1 import message_pb2 as dag_pb2


def builtin_timetable(schedule: dag_pb2.Schedule) -> Timetable | None:
    """The rules of a built-in schedule; None for a user's timetable (``custom``)."""
    kind = schedule.WhichOneof("kind")
    zone = schedule.timezone or "UTC"
    if kind == "cron":
        return CronIntervals(PRESETS.get(schedule.cron, schedule.cron), zone)
    if kind == "interval":
        return DeltaIntervals(schedule.interval.ToTimedelta())
    if kind == "once":
        return Once()
    if kind == "continuous":
        return Continuous()
    if kind == "cron_trigger":
        return _cron_triggers(schedule.cron_trigger, zone)
    if kind == "delta_trigger":
        trigger = schedule.delta_trigger
        return DeltaTriggers(trigger.delta.ToTimedelta(), trigger.interval.ToTimedelta())
    if kind == "events":
        dates = sorted(d.ToDatetime(tzinfo=UTC) for d in schedule.events.event_dates)
        return Events(tuple(dates), schedule.events.restrict_to_events)
    if kind == "custom":
        return None
    return Manual()


def _cron_triggers(trigger: dag_pb2.CronTrigger, zone: str) -> Timetable:
    first = trigger.WhichOneof("first_run")
    immediately: Any = None
    if first == "run_immediately":
        immediately = trigger.run_immediately
    elif first == "run_immediately_within":
        immediately = trigger.run_immediately_within.ToTimedelta()
    triggers = [
        CronTriggers(
            PRESETS.get(expression, expression),
            zone,
            trigger.interval.ToTimedelta(),
            immediately,
        )
        for expression in trigger.expressions
    ]
    if len(triggers) == 1:
        return triggers[0]
    return MultipleCronTriggers(tuple(triggers))
