"""The scheduler's settings."""

from __future__ import annotations

from services.runtime.server import ServiceDefinition
from tradewind_common import config as cfg
from tradewind_common.channels import ClientSettings

STATE = ClientSettings.for_service("state", default_address="127.0.0.1:50051")
CLAIM_DURATION = cfg.Setting(
    name="claim_duration",
    parse=cfg.seconds_at_least(1.0),
    default=30.0,
    help="seconds a claim on a DAG run lasts; it is renewed every third of it",
)
MAX_RUNS = cfg.Setting(
    name="max_runs",
    parse=cfg.parse_positive_int,
    default=1000,
    help="the most DAG runs this scheduler claims at once",
)
SWEEP_INTERVAL = cfg.Setting(
    name="sweep_interval",
    parse=cfg.seconds_at_least(0.5),
    default=10.0,
    help="seconds between safety-net passes over every claimed run (events drive the rest)",
)

SPEC_CACHE_SIZE = cfg.Setting(
    name="spec_cache_size",
    parse=cfg.parse_positive_int,
    default=512,
    help="DAG versions whose task definitions the scheduler keeps in memory (least recently "
    "used dropped first)",
)

PARTITION_MAPPER_MAX_DOWNSTREAM_KEYS = cfg.Setting(
    name="partition_mapper_max_downstream_keys",
    parse=cfg.parse_positive_int,
    default=1000,
    help="the most partitions of a consumer one upstream partition key may feed, unless its "
    "mapper sets max_downstream_keys (Airflow's setting of this name)",
)

SCHEDULER_SETTINGS = (
    *STATE.all(),
    cfg.PLUGINS_FOLDER,
    CLAIM_DURATION,
    MAX_RUNS,
    SWEEP_INTERVAL,
    SPEC_CACHE_SIZE,
    PARTITION_MAPPER_MAX_DOWNSTREAM_KEYS,
)

SERVICE = ServiceDefinition(
    name="scheduler",
    port=50052,
    metrics_port=9152,
    description="A Tradewind scheduler: decides which runs and task instances move next.",
    settings=SCHEDULER_SETTINGS,
)
