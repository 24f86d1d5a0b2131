"""The executor's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

SLOTS = Gauge(
    "tradewind_executor_slots", "Task slots of this executor, by kind (total, used).", ("kind",)
)
TRIES_STARTED = Counter("tradewind_executor_tries_started_total", "Tries started.")
TRIES_FINISHED = Counter(
    "tradewind_executor_tries_finished_total", "Tries finished, by outcome.", ("outcome",)
)
QUEUED_TO_RUNNING = Histogram(
    "tradewind_executor_queued_to_running_seconds",
    "Time from a task instance being queued to its task process running.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROCESS_START = Histogram(
    "tradewind_executor_process_start_seconds",
    "Time to start a task process, by launcher (fork_server or subprocess).",
    ("launcher",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
