"""Fixtures that start real state service processes, once per module and backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient, state_client


@pytest.fixture
async def client(state_service: ServiceProcess) -> AsyncIterator[StateClient]:
    """Stubs to the module's state service."""
    async with state_client(state_service.address) as stubs:
        yield stubs
