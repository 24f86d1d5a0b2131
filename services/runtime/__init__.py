"""What every Tradewind service shares.

Server bootstrap, health, reflection, metrics, config, auth, TLS and client channels.
"""

from services.runtime.channels import ChannelConfig, create_channel
from services.runtime.config import Setting, Settings
from services.runtime.errors import (
    AlreadyExists,
    ConfigError,
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
from services.runtime.tls import ClientTLSConfig, ServerTLSConfig

__all__ = [
    "AlreadyExists",
    "ChannelConfig",
    "ClientTLSConfig",
    "ConfigError",
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
    "Setting",
    "Settings",
    "StateConflict",
    "Unauthenticated",
    "Unavailable",
    "create_channel",
    "serve",
    "service_main",
]
