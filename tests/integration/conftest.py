"""Fixtures that start real state service processes, once per module and backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.helpers.databases import BACKENDS, TemplateDatabases, require_postgres
from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient, start_state, state_client


@pytest.fixture(scope="module", params=BACKENDS)
def state_service(
    request: pytest.FixtureRequest,
    template_databases: TemplateDatabases,
    postgres_status: str | None,
) -> Iterator[ServiceProcess]:
    """A state service on a fresh database, shared by the tests of one module."""
    backend = str(request.param)
    if backend == "postgresql":
        require_postgres(postgres_status)
    process = start_state(template_databases.new_url(backend))
    failures_before = request.session.testsfailed
    yield process
    process.stop()
    if request.session.testsfailed > failures_before:
        print(f"--- state service log ({backend}) ---\n{process.output()[-20000:]}")


@pytest.fixture
async def client(state_service: ServiceProcess) -> AsyncIterator[StateClient]:
    """Stubs to the module's state service."""
    async with state_client(state_service.address) as stubs:
        yield stubs
