"""What the state service's servicers share: the database, the change feed, the secret box."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.runtime.auth import AuthConfig
from services.runtime.info import ProcessIdentity
from services.state.crypto import SecretBox
from services.state.db.engine import Database
from services.state.events import EventHub


@dataclass
class StateServices:
    """The dependencies of every servicer of the state service."""

    db: Database
    hub: EventHub
    secrets: SecretBox
    #: The tokens the server accepts; decides who may reveal connection secrets.
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: Set by the runtime when the process starts.
    identity: ProcessIdentity | None = None
    #: Set when shutdown begins; streams end when it is.
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
