"""The public names of tradewind.client, pinned: removing or renaming one breaks users."""

from __future__ import annotations

import subprocess
import sys

import tradewind.client
from tests.helpers.processes import REPO_ROOT, child_environment

EXPECTED = {
    "AlreadyExistsError",
    "Asset",
    "AssetDetails",
    "AssetEvent",
    "AssetStateEntry",
    "AssetTaskReference",
    "Client",
    "ClientTLSConfig",
    "Connection",
    "DEFAULT_ADDRESS",
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_RPC_TIMEOUT_SECONDS",
    "Dag",
    "DagFile",
    "DagImportError",
    "DagRun",
    "DagRunState",
    "DagRunType",
    "DagWarning",
    "DeadlineExceededError",
    "EmittedAssetEvent",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "LogLine",
    "LogStream",
    "NotFoundError",
    "PermissionDeniedError",
    "Pool",
    "PendingPartition",
    "QueuedAssetEvent",
    "ReceivedPartitionKey",
    "Task",
    "TaskInstance",
    "TaskInstanceState",
    "TaskInstanceTry",
    "TaskLogs",
    "TaskStateEntry",
    "TaskTrigger",
    "TradewindClientError",
    "TriggerRule",
    "TryError",
    "TryOutcome",
    "UnauthenticatedError",
    "UnavailableError",
    "Variable",
    "WaitTimeoutError",
    "XCom",
}


def test_the_export_list_is_pinned() -> None:
    assert set(tradewind.client.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(tradewind.client, name) is not None


def test_states_are_the_sdks_own() -> None:
    import tradewind

    assert tradewind.client.TaskInstanceState is tradewind.TaskInstanceState
    assert tradewind.client.TriggerRule is tradewind.TriggerRule


def test_the_client_and_cli_never_load_the_state_service_or_a_database_driver() -> None:
    code = (
        "import sys, tradewind.client, tradewind.cli.commands\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'psycopg') or m.startswith('services.state'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
