"""The Python client of Tradewind's public API.

``Client`` offers typed asyncio methods over every RPC of ``tradewind.api.v1.ApiService``;
it returns frozen dataclasses, follows pagination in ``async for`` loops and raises a
subclass of :class:`TradewindClientError` for every failure.
"""

from tradewind.client._client import (
    DEFAULT_ADDRESS,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_RPC_TIMEOUT_SECONDS,
    Client,
)
from tradewind.client._enums import (
    DagRunState,
    DagRunType,
    LogStream,
    TaskInstanceState,
    TriggerRule,
    TryOutcome,
)
from tradewind.client._errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    TradewindClientError,
    UnauthenticatedError,
    UnavailableError,
    WaitTimeoutError,
)
from tradewind.client._models import (
    Connection,
    Dag,
    DagFile,
    DagImportError,
    DagRun,
    DagWarning,
    LogLine,
    Pool,
    Task,
    TaskInstance,
    TaskInstanceTry,
    TaskLogs,
    TaskStateEntry,
    TaskTrigger,
    TryError,
    Variable,
    XCom,
)
from tradewind_common.tls import ClientTLSConfig

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_RPC_TIMEOUT_SECONDS",
    "AlreadyExistsError",
    "Client",
    "ClientTLSConfig",
    "Connection",
    "Dag",
    "DagFile",
    "DagImportError",
    "DagRun",
    "DagRunState",
    "DagRunType",
    "DagWarning",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "LogLine",
    "LogStream",
    "NotFoundError",
    "PermissionDeniedError",
    "Pool",
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
]
