"""The scheduler's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

PASS_SECONDS = Histogram(
    "tradewind_scheduler_pass_seconds",
    "Time of one scheduling pass: snapshot, decisions, transitions.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RUNS_CLAIMED = Gauge("tradewind_scheduler_runs_claimed", "DAG runs this scheduler holds claims on.")
TRANSITIONS = Counter(
    "tradewind_scheduler_transitions_total",
    "Task instance transitions sent, by new state and outcome (applied or the refusal).",
    ("new_state", "outcome"),
)
RUNS_CREATED = Counter(
    "tradewind_scheduler_runs_created_total",
    "DAG runs the scheduler created, by run type (scheduled, asset_triggered).",
    ("run_type",),
)
for _run_type in ("scheduled", "asset_triggered"):
    RUNS_CREATED.labels(_run_type)
TIMETABLE_ERRORS = Counter(
    "tradewind_scheduler_timetable_errors_total",
    "Schedule passes over a DAG whose timetable could not answer, by reason"
    " (TimetableNotInstalled: not in the plugins folder; TimetableFailed: a user's timetable"
    " raised).",
    ("reason",),
)
for _reason in ("TimetableNotInstalled", "TimetableFailed"):
    TIMETABLE_ERRORS.labels(_reason)
PARTITION_EVENTS = Counter(
    "tradewind_scheduler_partition_events_total",
    "Asset events a scheduler assigned to partitioned consumers' partitions, by outcome"
    " (assigned; rejected: a mapper refused the key or it fanned out beyond the cap).",
    ("outcome",),
)
for _outcome in ("assigned", "rejected"):
    PARTITION_EVENTS.labels(_outcome)
POOL_SLOTS = Gauge(
    "tradewind_scheduler_pool_slots",
    "Pool slots by pool and kind (open, running, queued).",
    ("pool", "kind"),
)
UPSTREAM_TO_QUEUED = Histogram(
    "tradewind_scheduler_upstream_success_to_queued_seconds",
    "Time from the last upstream task's end to its downstream task being queued.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
