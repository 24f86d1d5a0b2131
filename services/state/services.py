"""What the state service's servicers share: the database, the change feed, the secret box.

Servicers run store operations through :meth:`StateServices.write` and :meth:`~.read`, which
turn the store's refusals (:mod:`services.state.store.errors`) into RPC errors with their
status codes and typed details, here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from core.mapping import DEFAULT_MAX_MAP_LENGTH
from services.runtime import errors
from services.runtime.auth import AuthConfig
from services.runtime.info import ProcessIdentity
from services.state.crypto import SecretBox
from services.state.db.engine import Database
from services.state.events import EventHub
from services.state.paging import PageTokens
from services.state.store import errors as store_errors

T = TypeVar("T")


@dataclass
class StateServices:
    """The dependencies of every servicer of the state service."""

    db: Database
    hub: EventHub
    secrets: SecretBox
    #: The tokens the server accepts; decides who may reveal connection secrets.
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: The most map indexes a mapped task expands to.
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH
    #: Seconds a task state store key set without a retention lives (0: forever).
    task_state_retention: float = 30 * 24 * 3600.0
    #: Whether a task instance's task state store is deleted when it succeeds.
    task_state_clear_on_success: bool = False
    #: Whether asset events follow Airflow's team rules (AssetAccessControl).
    multi_team: bool = False
    #: Set by the runtime when the process starts.
    identity: ProcessIdentity | None = None
    #: Set when shutdown begins; streams end when it is.
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pages(self) -> PageTokens:
        """Signs and checks the page tokens of List* RPCs."""
        return PageTokens(self.secrets)

    async def write(self, operation: Callable[[Session], T], *, name: str = "") -> T:
        """Run a store operation in one write transaction (see :meth:`Database.write`)."""
        try:
            return await self.db.write(operation, name=name)
        except store_errors.StoreError as err:
            raise service_error(err) from err

    async def read(self, operation: Callable[[Session], T], *, name: str = "") -> T:
        """Run a store operation in a read-only transaction (see :meth:`Database.read`)."""
        try:
            return await self.db.read(operation, name=name)
        except store_errors.StoreError as err:
            raise service_error(err) from err


def service_error(err: store_errors.StoreError) -> errors.ServiceError:
    """The RPC error of a store refusal: its status code and typed detail."""
    match err:
        case store_errors.NotFound():
            return errors.NotFound(err.resource_type, err.resource_id)
        case store_errors.AlreadyExists():
            return errors.AlreadyExists(
                err.resource_type, err.resource_id, existing_request_id=err.existing_request_id
            )
        case store_errors.LeaseLost():
            return errors.LeaseLost(
                err.resource_type,
                err.resource_id,
                presented_owner=err.presented_owner,
                current_owner=err.current_owner,
            )
        case store_errors.InvalidInput():
            return errors.InvalidArgument(err.field, err.description)
        case store_errors.Forbidden():
            return errors.PermissionDenied(err.message)
        case _:
            return errors.FailedPrecondition(err.message)
