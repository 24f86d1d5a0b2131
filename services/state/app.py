"""The state service process: database, migrations, change feed, servicers, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from services.runtime.server import GrpcService, RuntimeContext, ServerConfig
from services.state import settings
from services.state.crypto import SecretBox, load_or_create_key
from services.state.db.engine import Database, DatabaseSettings
from services.state.db.migrate import current_revision, head_revision, upgrade
from services.state.events import EventHub
from services.state.housekeeping import ensure_default_pool, prune_events, prune_task_state
from services.state.servicers import grpc_services
from services.state.services import StateServices
from services.state.store.resources import encrypt_plain_variables
from tradewind_common import config as cfg
from tradewind_common.config import ConfigError

logger = logging.getLogger("tradewind.state")

#: How often the database is pinged for the health status.
HEALTH_PING_SECONDS = 1.0
#: How often old events are pruned.
PRUNE_SECONDS = 300.0


class StateApp:
    """The state service: the only process that opens the database."""

    service_name = "state"

    def __init__(self, config: ServerConfig, values: cfg.Settings) -> None:
        self._config = config
        self._migrate = values[settings.MIGRATE]
        self._event_retention = values[settings.EVENT_RETENTION]
        self.db = Database(
            DatabaseSettings(
                url=settings.database_url(values), pool_size=values[settings.DATABASE_POOL_SIZE]
            )
        )
        key = load_or_create_key(values[settings.SECRET_KEY], values[cfg.HOME])
        self.hub = EventHub(self.db)
        self.services = StateServices(
            db=self.db,
            hub=self.hub,
            secrets=SecretBox(key),
            auth=config.auth,
            max_map_length=values[settings.MAX_MAP_LENGTH],
            task_state_retention=values[settings.TASK_STATE_RETENTION],
            task_state_clear_on_success=values[settings.TASK_STATE_CLEAR_ON_SUCCESS],
            multi_team=values[settings.MULTI_TEAM],
        )
        self._tasks: list[asyncio.Task[None]] = []

    def grpc_services(self) -> Sequence[GrpcService]:
        """Every Tradewind API that the state service serves."""
        return grpc_services(self.services)

    async def start(self, context: RuntimeContext) -> None:
        """Check (or migrate) the schema, then start the change feed and the health watchdog."""
        self.services.identity = context.identity
        self.services.shutting_down = context.shutting_down
        loop = asyncio.get_running_loop()
        if self._migrate:
            await loop.run_in_executor(None, upgrade, self.db)
        revision = await loop.run_in_executor(None, current_revision, self.db)
        if revision != head_revision():
            raise ConfigError(
                f"the database schema is at revision {revision or 'none (empty database)'}, not"
                f" {head_revision()}: run `tradewind db migrate` or start with --migrate"
            )
        # Replicas starting together may both insert it; the loser's insert is redundant.
        with contextlib.suppress(IntegrityError):
            await self.db.write(ensure_default_pool, name="ensure_default_pool")
        secrets = self.services.secrets
        encrypted = await self.db.write(
            lambda s: encrypt_plain_variables(s, secrets), name="encrypt_plain_variables"
        )
        if encrypted:
            logger.info(
                "encrypted variables stored in clear",
                extra={"action": "encrypt_variables", "count": encrypted},
            )
        await self.hub.start()
        self._tasks.append(asyncio.create_task(self._watch_database(context)))
        self._tasks.append(asyncio.create_task(self._prune_events()))

    async def stop(self, grace_seconds: float) -> None:
        """Stop background work and close the database."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.db.dispose)

    async def _watch_database(self, context: RuntimeContext) -> None:
        serving = True
        while True:
            await asyncio.sleep(HEALTH_PING_SECONDS)
            reachable = await self.db.ping()
            if reachable != serving:
                serving = reachable
                logger.warning(
                    "database reachable" if reachable else "database unreachable",
                    extra={"action": "db_health", "reachable": reachable},
                )
                await context.set_serving(reachable)

    async def _prune_events(self) -> None:
        retention = self._event_retention
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            with contextlib.suppress(Exception):
                await self.db.write(lambda s: prune_events(s, retention), name="prune_events")
            with contextlib.suppress(Exception):
                await self.db.write(prune_task_state, name="prune_task_state")


def build_app(config: ServerConfig, values: cfg.Settings) -> StateApp:
    """The app factory for :func:`services.runtime.server.service_main`."""
    return StateApp(config, values)
