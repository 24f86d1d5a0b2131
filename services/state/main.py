"""``tradewind state`` and ``tradewind db migrate``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.runtime.errors import Unavailable
from services.runtime.logs import configure_logging
from services.runtime.server import EXIT_CONFIG_ERROR, entry_point
from services.state.app import build_app
from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import upgrade
from services.state.settings import DATABASE_URL, SERVICE, database_url
from tradewind_common import config as cfg
from tradewind_common.config import ConfigError

#: Serve the state service until SIGTERM; return the exit status.
main = entry_point(SERVICE, build_app)


def migrate_main(argv: Sequence[str]) -> int:
    """``tradewind db migrate``: bring the database to the newest schema; return the status."""
    settings = (cfg.HOME, DATABASE_URL, cfg.LOG_LEVEL)
    try:
        parser = cfg.build_parser(
            "tradewind db migrate", "Migrate the database to the newest schema.", settings
        )
        values = cfg.resolve_settings(parser.parse_args(argv), settings)
        configure_logging(service="db", level=values[cfg.LOG_LEVEL], fmt="text")
        db = Database(DatabaseSettings(url=database_url(values)))
        try:
            revision = upgrade(db)
        finally:
            db.dispose()
    except (ConfigError, Unavailable) as err:
        print(f"tradewind db migrate: error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    print(f"database {db.url.render_as_string(hide_password=True)} is at revision {revision}")
    return 0
