"""The DAG processor's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

PARSE_SECONDS = Histogram(
    "tradewind_dag_processor_parse_seconds",
    "Time to parse one DAG file in its own process.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FILES = Gauge("tradewind_dag_processor_files", "DAG files, by kind (known, owned).", ("kind",))
DAGS = Gauge("tradewind_dag_processor_dags", "DAGs defined by the files this processor owns.")
IMPORT_ERRORS = Gauge(
    "tradewind_dag_processor_import_errors", "Owned files whose last parse failed."
)
PARSE_TIMEOUTS = Counter(
    "tradewind_dag_processor_parse_timeouts_total", "Parses killed for taking too long."
)
