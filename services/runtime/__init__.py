"""What every Tradewind service shares.

Server bootstrap, health, reflection, metrics, auth, server TLS, the errors RPCs fail with,
guarded loops and protobuf conversions. Settings and client channels, which clients share,
are in :mod:`tradewind_common`.
"""

from services.runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    LeaseLost,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ServiceError,
    StateConflict,
    Unauthenticated,
    Unavailable,
)
from services.runtime.server import (
    GrpcService,
    RuntimeContext,
    ServerConfig,
    ServiceApp,
    serve,
    service_main,
)
from services.runtime.tls import ServerTLSConfig

__all__ = [
    "AlreadyExists",
    "FailedPrecondition",
    "GrpcService",
    "InvalidArgument",
    "LeaseLost",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "RuntimeContext",
    "ServerConfig",
    "ServerTLSConfig",
    "ServiceApp",
    "ServiceError",
    "StateConflict",
    "Unauthenticated",
    "Unavailable",
    "serve",
    "service_main",
]
