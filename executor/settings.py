"""The executor's settings."""

from __future__ import annotations

from executor.isolation import ISOLATION_SETTINGS
from services.runtime.server import ServiceDefinition
from tradewind_common import config as cfg
from tradewind_common.channels import ClientSettings

STATE = ClientSettings.for_service("state", default_address="127.0.0.1:50051")
SLOTS = cfg.Setting(
    name="slots", parse=cfg.parse_positive_int, default=16, help="tries this replica runs at once"
)
QUEUES = cfg.Setting[tuple[str, ...]](
    name="queues", parse=cfg.parse_list, default=("default",), help="comma-separated queues served"
)
LEASE_DURATION = cfg.Setting(
    name="lease_duration",
    parse=cfg.seconds_at_least(1.0),
    default=30.0,
    help="seconds a try's lease lasts; it is renewed every third of it",
)
KILL_GRACE = cfg.Setting(
    name="kill_grace",
    parse=cfg.parse_seconds,
    default=5.0,
    help="seconds between SIGTERM and SIGKILL when a try is stopped or times out",
)
FORK_SERVER = cfg.Setting(
    name="fork_server",
    parse=cfg.parse_bool,
    default=True,
    switch=True,
    help="start tries from a pre-imported fork server (else a fresh interpreter per try)",
)
TASK_TLS_CERT = cfg.Setting(
    name="task_tls_cert",
    parse=cfg.parse_optional_path,
    default=None,
    help="PEM client certificate that task processes present to the state service (mutual TLS);"
    " defaults to --state-tls-cert, give tasks their own when certificate names grant roles",
)
TASK_TLS_KEY = cfg.Setting(
    name="task_tls_key",
    parse=cfg.parse_optional_path,
    default=None,
    help="PEM private key of --task-tls-cert",
)

EXECUTOR_SETTINGS = (
    *STATE.all(),
    cfg.DAGS_FOLDER,
    *cfg.PARSING_SETTINGS,
    SLOTS,
    QUEUES,
    LEASE_DURATION,
    KILL_GRACE,
    FORK_SERVER,
    TASK_TLS_CERT,
    TASK_TLS_KEY,
    *ISOLATION_SETTINGS,
)

SERVICE = ServiceDefinition(
    name="executor",
    port=50053,
    metrics_port=9153,
    description="A Tradewind executor: leases queued tries and runs each in its own process.",
    settings=EXECUTOR_SETTINGS,
)
