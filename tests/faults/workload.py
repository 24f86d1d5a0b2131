"""The DAG the fault tests run: extract >> WORKERS parallel workers >> join, with retries.

Each worker defers: its first process waits on a short ``TimeDeltaTrigger`` (run by a
triggerer), and the process resumed by the trigger's event does the work and returns the
worker's value, so a worker's XCom exists only if it resumed. The worker's log says when it
deferred (with the trigger's due moment) and when it resumed (with the event's moment), which
lets the records show that each deferral resumed once, on its own event.

A doomed variant's last worker fails without retry once it resumes, so its runs must end
failed, with join upstream_failed, whatever the faults do.

``join`` produces the DAG's asset, and a consumer DAG is scheduled on any of them: every
successful run must record one event, and every event be consumed by one consumer run. It also
updates the partition of its run of a second asset, which a partitioned consumer takes: every
successful run must make exactly one run of that consumer, for its partition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

#: Parallel workers between extract and join (each DAG run has WORKERS + 2 task instances).
WORKERS = 4
DOOMED_WORKER = f"work_{WORKERS - 1}"
#: The ids of the workers (the deferring tasks).
WORKER_IDS = tuple(f"work_{part}" for part in range(WORKERS))
#: Seconds a worker waits on its trigger.
DEFER_SECONDS = 0.75

DAG_SOURCE = """\
import time
from datetime import datetime, timedelta, timezone

from tradewind import DAG, AirflowFailException, Asset, BaseOperator, get_current_context, task
from tradewind.sdk.triggers.temporal import TimeDeltaTrigger

PARTITIONED = Asset("chaos-part://{dag_id}")


class Work(BaseOperator):
    \"\"\"Works on one part: defers on a short timer, and does the work once resumed.\"\"\"

    template_fields = ("value",)

    def __init__(self, value, part, **kwargs):
        super().__init__(**kwargs)
        self.value = value
        self.part = part

    def execute(self, context):
        time.sleep(0.2)
        trigger = TimeDeltaTrigger(timedelta(seconds={defer_seconds}))
        due = trigger.moment.isoformat()
        print(f"deferring part {{self.part}} until {{due}}")
        self.defer(trigger=trigger, method_name="resume", kwargs={{"due": due}})

    def resume(self, context, event=None, due=None):
        print(f"resumed part {{self.part}} on {{event.isoformat()}} (due {{due}})")
        time.sleep(0.3)
        if self.part == {doomed_part}:
            raise AirflowFailException(f"part {{self.part}} is doomed")
        return self.value + self.part


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         default_args={{"retries": 6, "retry_delay": timedelta(seconds=0)}}):
    @task
    def extract():
        print("extracting")
        time.sleep(0.05)
        return 1

    @task(outlets=[Asset("chaos://{dag_id}"), PARTITIONED])
    def join(*values):
        print("joining")
        context = get_current_context()
        context["outlet_events"][PARTITIONED].add_partitions(f"{dag_id}/{{context['run_id']}}")
        return sum(values)

    first = extract()
    join(*[Work(task_id=f"work_{{part}}", value=first, part=part).output
           for part in range({workers})])
""".replace("{workers}", str(WORKERS)).replace("{defer_seconds}", str(DEFER_SECONDS))

_DEFERRING = re.compile(r"^deferring part (?P<part>\d+) until (?P<due>\S+)$")
_RESUMED = re.compile(r"^resumed part (?P<part>\d+) on (?P<event>\S+) \(due (?P<due>\S+)\)$")


#: The DAG scheduled on every workload DAG's asset.
CONSUMER_DAG = "chaos_consumer"

CONSUMER_SOURCE = """\
from datetime import datetime, timedelta, timezone

from tradewind import DAG, Asset, BashOperator

# Retried as the workload's tasks are: a try whose executor is killed fails, and its retry
# runs on another replica.
with DAG("{consumer}", schedule={condition}, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         default_args={{"retries": 6, "retry_delay": timedelta(seconds=0)}}):
    BashOperator(task_id="consume", bash_command="true")
"""


#: The partitioned consumer of every workload DAG's second asset, a run per partition.
PARTITION_CONSUMER_DAG = "chaos_partitions"

PARTITION_CONSUMER_SOURCE = """\
from datetime import datetime, timedelta, timezone

from tradewind import DAG, Asset, BashOperator, PartitionedAssetTimetable

with DAG("{consumer}", schedule=PartitionedAssetTimetable(assets={condition}),
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         default_args={{"retries": 6, "retry_delay": timedelta(seconds=0)}}):
    BashOperator(task_id="consume", bash_command="true")
"""


def partitioned_asset_name(dag_id: str) -> str:
    """The name of the partitioned asset a workload DAG's ``join`` updates."""
    return f"chaos-part://{dag_id}"


def partition_consumer_source(dag_ids: list[str]) -> str:
    """The partitioned consumer, on any workload DAG's partitioned asset."""
    condition = " | ".join(f"Asset({partitioned_asset_name(d)!r})" for d in dag_ids)
    return PARTITION_CONSUMER_SOURCE.format(consumer=PARTITION_CONSUMER_DAG, condition=condition)


def asset_name(dag_id: str) -> str:
    """The name of the asset a workload DAG's ``join`` produces (its URI is normalised)."""
    return f"chaos://{dag_id}"


def consumer_source(dag_ids: list[str]) -> str:
    """The consumer DAG, scheduled on any workload DAG's asset."""
    condition = " | ".join(f"Asset({asset_name(d)!r})" for d in dag_ids)
    return CONSUMER_SOURCE.format(consumer=CONSUMER_DAG, condition=condition)


def dag_source(dag_id: str, *, doomed: bool = False) -> str:
    """The source of one workload DAG file."""
    return DAG_SOURCE.format(dag_id=dag_id, doomed_part=WORKERS - 1 if doomed else -1)


def worker_value(task_id: str) -> int:
    """What a worker's resumed method returns when it got extract's 1."""
    return 1 + int(task_id.removeprefix("work_"))


def join_value() -> int:
    """What ``join`` returns when every worker got extract's 1."""
    return sum(worker_value(task_id) for task_id in WORKER_IDS)


@dataclass(frozen=True)
class Mark:
    """One line a worker logged about its deferral: deferring (due set) or resumed (event set)."""

    sequence: int
    at: datetime
    part: int
    due: datetime
    event: datetime | None = None


def deferral_marks(lines: list[tuple[int, datetime, str]]) -> tuple[list[Mark], list[Mark]]:
    """A worker try's deferring and resumed lines, from its log as (sequence, time, message)."""
    deferring: list[Mark] = []
    resumed: list[Mark] = []
    for sequence, at, message in lines:
        text = message.strip()
        if found := _DEFERRING.match(text):
            due = datetime.fromisoformat(found["due"])
            deferring.append(Mark(sequence, at, int(found["part"]), due))
        elif found := _RESUMED.match(text):
            due = datetime.fromisoformat(found["due"])
            event = datetime.fromisoformat(found["event"])
            resumed.append(Mark(sequence, at, int(found["part"]), due, event))
    return deferring, resumed
