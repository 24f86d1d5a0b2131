"""The DAG processor's settings."""

from __future__ import annotations

from services.runtime.confinement import PROTECTED_PATHS
from services.runtime.server import ServiceDefinition
from tradewind_common import config as cfg
from tradewind_common.channels import ClientSettings

STATE = ClientSettings.for_service("state", default_address="127.0.0.1:50051")
PARSE_TIMEOUT = cfg.Setting(
    name="parse_timeout",
    parse=cfg.seconds_at_least(0.1),
    default=30.0,
    help="seconds a DAG file may take to import before its parse is killed",
)
PARSE_MEMORY_LIMIT = cfg.Setting(
    name="parse_memory_limit_mb",
    parse=cfg.parse_non_negative_int,
    default=1024,
    help="address-space limit of a parse process in MiB (0: none)",
)
PARSING_PROCESSES = cfg.Setting(
    name="parsing_processes",
    parse=cfg.parse_positive_int,
    default=2,
    help="DAG files parsed at once",
)
SCAN_INTERVAL = cfg.Setting(
    name="scan_interval",
    parse=cfg.seconds_at_least(0.1),
    default=2.0,
    help="seconds between looks at the DAG folder for new, changed and deleted files",
)
REPARSE_INTERVAL = cfg.Setting(
    name="reparse_interval",
    parse=cfg.parse_seconds,
    default=300.0,
    help="seconds after which every owned file is parsed again, changed or not",
)
LEASE_DURATION = cfg.Setting(
    name="lease_duration",
    parse=cfg.seconds_at_least(1.0),
    default=30.0,
    help="seconds a file lease lasts; renewed on every scan",
)
FORK_SERVER = cfg.Setting(
    name="fork_server",
    parse=cfg.parse_bool,
    default=True,
    switch=True,
    help="parse in forks of a pre-imported process (else a fresh interpreter per file)",
)

TEAM = cfg.Setting(
    name="team",
    parse=str,
    default="",
    help="the team that owns this folder's DAGs (as Airflow gives a bundle's DAGs its team);"
    " empty: teamless",
)

PROCESSOR_SETTINGS = (
    *STATE.all(),
    cfg.DAGS_FOLDER,
    *cfg.PARSING_SETTINGS,
    PARSE_TIMEOUT,
    PROTECTED_PATHS,
    PARSE_MEMORY_LIMIT,
    PARSING_PROCESSES,
    SCAN_INTERVAL,
    REPARSE_INTERVAL,
    LEASE_DURATION,
    FORK_SERVER,
    TEAM,
)

SERVICE = ServiceDefinition(
    name="dag_processor",
    port=50054,
    metrics_port=9154,
    description="A Tradewind DAG processor: parses DAG files and registers their DAGs.",
    settings=PROCESSOR_SETTINGS,
)
