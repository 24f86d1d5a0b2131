"""Metrics of the state service's leases and claims (database metrics live in db/engine.py)."""

from prometheus_client import Counter

LEASES = Counter(
    "tradewind_leases_total",
    "Leases and claims handed out or refused, by kind (task, run_claim, dag_file, trigger) and"
    " outcome (granted, renewed, refused, expired).",
    ("kind", "outcome"),
)
