"""A DAG folder, a DAG processor on it and a scheduler, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.integration.dag_processor.dag_files import start_dag_processor


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory, state_service: ServiceProcess) -> Path:
    """The module's DAG folder, a new one per backend (hence per state service)."""
    return tmp_path_factory.mktemp("dags")


@pytest.fixture(scope="module")
def processor(state_service: ServiceProcess, dags_folder: Path) -> Iterator[ServiceProcess]:
    """A DAG processor on the module's DAG folder."""
    process = start_dag_processor(state_service.address, dags_folder)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def scheduler(state_service: ServiceProcess) -> Iterator[ServiceProcess]:
    """A scheduler that sweeps for expired leases every second."""
    process = start_service("scheduler", state_service.address, "--sweep-interval", "1")
    yield process
    process.stop()
