"""The state service's own settings, besides the server's."""

from __future__ import annotations

from pathlib import Path

from core.mapping import DEFAULT_MAX_MAP_LENGTH
from services.runtime.server import ServiceDefinition
from tradewind_common import config as cfg

SQLITE_FILE = "tradewind.db"

DATABASE_URL = cfg.Setting(
    name="database_url",
    parse=cfg.parse_text,
    default="",
    help=(
        "SQLAlchemy URL of the database: postgresql://user:pass@host/db, or sqlite:///path;"
        f" unset means SQLite at $TRADEWIND_HOME/{SQLITE_FILE}"
    ),
)
DATABASE_POOL_SIZE = cfg.Setting(
    name="database_pool_size",
    parse=cfg.parse_positive_int,
    default=10,
    help="database connections per replica (PostgreSQL)",
)
MIGRATE = cfg.Setting(
    name="migrate",
    parse=cfg.parse_bool,
    default=False,
    switch=True,
    help="migrate the database to the newest schema at start (else refuse an old schema)",
)
SECRET_KEY = cfg.Setting(
    name="secret_key",
    parse=cfg.parse_text,
    default="",
    help=(
        "Fernet keys, comma-separated, that encrypt connection secrets and variables at rest:"
        " the first encrypts, every one decrypts (rotation: put the new key first, then run"
        " `tradewind db rotate-fernet-key`); every replica needs the same list."
        " Unset: the key file $TRADEWIND_HOME/fernet.key (one key per line), made on first start."
        " Write --secret-key=KEYS: a key may begin with '-'"
    ),
)
EVENT_RETENTION = cfg.Setting(
    name="event_retention",
    parse=cfg.parse_seconds,
    default=24 * 3600.0,
    help="seconds that change events are kept for subscribers to resume from",
)

MAX_MAP_LENGTH = cfg.Setting(
    name="max_map_length",
    parse=cfg.parse_positive_int,
    default=DEFAULT_MAX_MAP_LENGTH,
    help=(
        "the most map indexes a mapped task expands to; a longer value to map over fails the"
        " task that pushed it (Airflow's [core] max_map_length)"
    ),
)

TASK_STATE_RETENTION = cfg.Setting(
    name="task_state_retention",
    parse=cfg.parse_seconds,
    default=30 * 24 * 3600.0,
    help=(
        "seconds a task_state_store key lives when set without a retention of its own; 0 keeps"
        " such keys forever (Airflow's [state_store] default_retention_days)"
    ),
)
TASK_STATE_CLEAR_ON_SUCCESS = cfg.Setting(
    name="task_state_clear_on_success",
    parse=cfg.parse_bool,
    default=False,
    switch=True,
    help="delete a task instance's task_state_store keys when it succeeds",
)
MULTI_TEAM = cfg.Setting(
    name="multi_team",
    parse=cfg.parse_bool,
    default=False,
    switch=True,
    help="asset events follow the teams of DAGs (their DAG processor's --team) and assets'"
    " AssetAccessControl, as Airflow's [core] multi_team",
)

STATE_SETTINGS = (
    cfg.HOME,
    DATABASE_URL,
    DATABASE_POOL_SIZE,
    MIGRATE,
    SECRET_KEY,
    EVENT_RETENTION,
    MAX_MAP_LENGTH,
    TASK_STATE_RETENTION,
    TASK_STATE_CLEAR_ON_SUCCESS,
    MULTI_TEAM,
)

SERVICE = ServiceDefinition(
    name="state",
    port=50051,
    metrics_port=9151,
    description="The state service: the system of record, the only owner of the database.",
    settings=STATE_SETTINGS,
)


def database_url(values: cfg.Settings) -> str:
    """The configured database URL, or the SQLite file under the home folder."""
    url = values[DATABASE_URL]
    if url:
        return url
    home: Path = values[cfg.HOME].expanduser()
    return f"sqlite:///{home / SQLITE_FILE}"
