"""Metrics of the state service's leases and claims (database metrics live in db/engine.py)."""

from prometheus_client import Counter

LEASES = Counter(
    "tradewind_leases_total",
    "Leases and claims handed out or refused, by kind (task, run_claim, dag_file, trigger,"
    " watcher) and outcome (granted, renewed, refused, expired).",
    ("kind", "outcome"),
)

ASSET_EVENTS = Counter(
    "tradewind_asset_events_total",
    "Asset events recorded, by origin (task: a producing task succeeded; api: CreateAssetEvent;"
    " watcher: an asset watcher's trigger fired).",
    ("origin",),
)
ASSET_RUNS = Counter(
    "tradewind_asset_triggered_runs_total",
    "Runs created because a DAG's asset condition held.",
)
for _origin in ("task", "api", "watcher"):
    ASSET_EVENTS.labels(_origin)
