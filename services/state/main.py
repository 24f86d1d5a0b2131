"""``tradewind state``, ``tradewind db migrate`` and ``tradewind db rotate-fernet-key``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.runtime.errors import Unavailable
from services.runtime.logs import configure_logging
from services.runtime.server import EXIT_CONFIG_ERROR, entry_point
from services.state.app import build_app
from services.state.crypto import KEY_FILE, SecretBox, load_or_create_key
from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import upgrade
from services.state.settings import DATABASE_URL, SECRET_KEY, SERVICE, database_url
from services.state.store.errors import Refused
from services.state.store.resources import reencrypt_secrets
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


def rotate_key_main(argv: Sequence[str]) -> int:
    """``tradewind db rotate-fernet-key``: re-encrypt every stored secret with the first key.

    Run it after putting a new key first in the key list (``--secret-key NEW,OLD``, or a new
    first line in ``$TRADEWIND_HOME/fernet.key``) and restarting the state service replicas;
    then the old key can go.
    """
    settings = (cfg.HOME, DATABASE_URL, SECRET_KEY, cfg.LOG_LEVEL)
    prog = "tradewind db rotate-fernet-key"
    try:
        parser = cfg.build_parser(
            prog, "Re-encrypt every connection secret and variable with the first key.", settings
        )
        values = cfg.resolve_settings(parser.parse_args(argv), settings)
        configure_logging(service="db", level=values[cfg.LOG_LEVEL], fmt="text")
        key_file = values[cfg.HOME].expanduser() / KEY_FILE
        if not values[SECRET_KEY] and not key_file.exists():
            raise ConfigError(
                f"no secret key: give --secret-key or TRADEWIND_SECRET_KEY(_FILE), or the"
                f" --home whose {KEY_FILE} the state service uses (none at {key_file})"
            )
        secrets = SecretBox(load_or_create_key(values[SECRET_KEY], values[cfg.HOME]))
        db = Database(DatabaseSettings(url=database_url(values)))
        try:
            done = db.run_write(lambda s: reencrypt_secrets(s, secrets), name="rotate_key")
        finally:
            db.dispose()
    except (ConfigError, Unavailable) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except Refused as err:
        print(f"{prog}: error: {err}; nothing was changed", file=sys.stderr)
        return 1
    print(
        f"re-encrypted {done.connections} connections and {done.variables} variables with the"
        f" first of {secrets.key_count} keys; keys after the first can be removed now"
    )
    return 0
