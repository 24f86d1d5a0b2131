"""A DAG folder, a DAG processor, a scheduler, an executor and a triggerer per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import ServiceProcess
from tests.helpers.services import start_service
from tests.integration.dag_processor.dag_files import start_dag_processor
from tests.integration.executor.runs import start_executor

#: Executor slots: far fewer than the deferred tasks, so holding slots would show.
SLOTS = 16


def start_triggerer(state_address: str, dags_folder: Path, *flags: str) -> ServiceProcess:
    """A triggerer on ``dags_folder`` with short leases (a dead one's triggers move fast)."""
    return start_service(
        "triggerer",
        state_address,
        "--dags-folder",
        str(dags_folder),
        "--lease-duration",
        "3",
        *flags,
    )


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
    """A scheduler that sweeps every second."""
    process = start_service("scheduler", state_service.address, "--sweep-interval", "1")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def executor(
    state_service: ServiceProcess,
    dags_folder: Path,
    processor: ServiceProcess,
    scheduler: ServiceProcess,
) -> Iterator[ServiceProcess]:
    """An executor with :data:`SLOTS` slots."""
    process = start_executor(state_service.address, dags_folder, "--slots", str(SLOTS))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def triggerer(
    state_service: ServiceProcess, dags_folder: Path, executor: ServiceProcess
) -> Iterator[ServiceProcess]:
    """One triggerer for the module's tests (tests of failover start their own)."""
    process = start_triggerer(state_service.address, dags_folder, "--blocked-limit", "1")
    yield process
    process.stop()
