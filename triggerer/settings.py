"""The triggerer's settings."""

from __future__ import annotations

from services.runtime.server import ServiceDefinition
from tradewind_common import config as cfg
from tradewind_common.channels import ClientSettings

STATE = ClientSettings.for_service("state", default_address="127.0.0.1:50051")
CAPACITY = cfg.Setting(
    name="capacity",
    parse=cfg.parse_positive_int,
    default=10_000,
    help="the most triggers this triggerer runs at once",
)
LEASE_DURATION = cfg.Setting(
    name="lease_duration",
    parse=cfg.seconds_at_least(1.0),
    default=30.0,
    help="seconds a trigger lease lasts (another triggerer takes a dead one's triggers after"
    " it); renewed every third of it",
)
BLOCKED_THRESHOLD = cfg.Setting(
    name="blocked_threshold",
    parse=cfg.seconds_at_least(0.01),
    default=0.2,
    help="seconds a trigger may hold the event loop before it is reported as blocking it",
)
BLOCKED_LIMIT = cfg.Setting(
    name="blocked_limit",
    parse=cfg.seconds_at_least(0.1),
    default=10.0,
    help="seconds a trigger may hold the event loop before it is interrupted and its task"
    " resumes to fail",
)

TRIGGERER_SETTINGS = (
    *STATE.all(),
    cfg.DAGS_FOLDER,
    *cfg.PARSING_SETTINGS,
    CAPACITY,
    LEASE_DURATION,
    BLOCKED_THRESHOLD,
    BLOCKED_LIMIT,
)

SERVICE = ServiceDefinition(
    name="triggerer",
    port=50055,
    metrics_port=9155,
    description="A Tradewind triggerer: runs the triggers of deferred tasks.",
    settings=TRIGGERER_SETTINGS,
)
