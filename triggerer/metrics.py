"""The triggerer's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

TRIGGERS_RUNNING = Gauge("tradewind_triggerer_triggers_running", "Triggers running now.")
TRIGGERS_LEASED = Gauge(
    "tradewind_triggerer_triggers_leased", "Triggers this triggerer holds leases on."
)
TRIGGERS_FIRED = Counter(
    "tradewind_triggerer_triggers_fired_total", "Triggers that yielded their first event."
)
TRIGGERS_FAILED = Counter(
    "tradewind_triggerer_triggers_failed_total",
    "Triggers that raised, could not be built, or blocked the event loop past the limit.",
)
BLOCKED_SECONDS = Counter(
    "tradewind_triggerer_blocked_loop_seconds_total",
    "Seconds the event loop was held by a trigger (counted once a hold passes the threshold).",
)
FIRE_SECONDS = Histogram(
    "tradewind_triggerer_fire_report_seconds",
    "Time from a trigger's event to the state service resuming its task.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
WATCHERS_RUNNING = Gauge(
    "tradewind_triggerer_watchers_running", "Asset watchers' triggers running now."
)
WATCHERS_LEASED = Gauge(
    "tradewind_triggerer_watchers_leased", "Asset watchers this triggerer holds leases on."
)
WATCHER_EVENTS = Counter(
    "tradewind_triggerer_watcher_events_total",
    "Events asset watchers' triggers yielded (each becomes an event of the assets watched).",
)
