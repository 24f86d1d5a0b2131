"""The client's exceptions, and the one place where gRPC status codes become them.

Every failed call raises a subclass of :class:`TradewindClientError` named for the condition,
carrying the gRPC status code, the server's message and, where the server sent one, the typed
detail from ``protos/errordetails`` (the ``grpc-status-details-bin`` trailer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from grpc import aio

from protos.errordetails.v1 import message_pb2 as errordetails

_M = TypeVar("_M", bound=Message)

#: The trailer that carries a ``google.rpc.Status`` with typed details.
STATUS_DETAILS_KEY = "grpc-status-details-bin"

#: How resource types from NotFound/AlreadyExists details read in a sentence.
_RESOURCE_LABELS = {
    "dag": "DAG",
    "dag_run": "DAG run",
    "task_instance": "task instance",
    "try": "try",
    "variable": "variable",
    "connection": "connection",
    "pool": "pool",
    "xcom": "XCom",
}


class TradewindClientError(Exception):
    """A call to the Tradewind API failed."""

    #: The gRPC status this class stands for; None for errors raised by the client itself.
    code: ClassVar[grpc.StatusCode | None] = None

    def __init__(
        self,
        message: str | None = None,
        *,
        status: grpc.StatusCode | None = None,
        details: str = "",
    ) -> None:
        """Create the error.

        Args:
            message: what to tell a person; the class docstring when None.
            status: the gRPC status code of the failed call (the class's ``code`` when None).
            details: the server's own message, unchanged.

        """
        text = message or (self.__doc__ or type(self).__name__).strip()
        super().__init__(text)
        #: What to tell a person.
        self.message: str = text
        #: The gRPC status code of the failed call, None when no call failed.
        self.status: grpc.StatusCode | None = status if status is not None else self.code
        #: The server's message as it sent it.
        self.details: str = details


class NotFoundError(TradewindClientError):
    """The named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(
        self,
        message: str | None = None,
        *,
        resource_type: str = "",
        resource_id: str = "",
        details: str = "",
    ) -> None:
        """Create the error; ``resource_type`` and ``resource_id`` come from the detail."""
        if resource_type and resource_id:
            message = f"{_label(resource_type)} {resource_id!r} not found"
        super().__init__(message, details=details)
        self.resource_type = resource_type
        self.resource_id = resource_id


class AlreadyExistsError(TradewindClientError):
    """The resource exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(
        self,
        message: str | None = None,
        *,
        resource_type: str = "",
        resource_id: str = "",
        existing_request_id: str = "",
        details: str = "",
    ) -> None:
        """Create the error; the fields come from the AlreadyExistsFailure detail."""
        if resource_type and resource_id:
            message = f"{_label(resource_type)} {resource_id!r} already exists"
        super().__init__(message, details=details)
        self.resource_type = resource_type
        self.resource_id = resource_id
        #: The request id that created the existing resource, when it has one.
        self.existing_request_id = existing_request_id


@dataclass(frozen=True)
class FieldViolation:
    """One malformed request field, as the server named it."""

    #: The field's path in the request, e.g. ``conf_json``.
    field: str
    description: str


class InvalidArgumentError(TradewindClientError):
    """A request field is malformed."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self,
        message: str | None = None,
        *,
        violations: Sequence[FieldViolation] = (),
        details: str = "",
    ) -> None:
        """Create the error; ``violations`` come from the BadRequestFailure detail."""
        super().__init__(message, details=details)
        self.violations = tuple(violations)
        #: The first offending field, empty when the server named none.
        self.field = self.violations[0].field if self.violations else ""


class FailedPreconditionError(TradewindClientError):
    """The system is not in a state that allows this call."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class UnavailableError(TradewindClientError):
    """The state service cannot be reached or cannot answer now."""

    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str | None = None, *, address: str = "", details: str = "") -> None:
        """Create the error; ``address`` is where the client tried to reach the service."""
        super().__init__(message, details=details)
        self.address = address


class UnauthenticatedError(TradewindClientError):
    """The call carries no valid token."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(TradewindClientError):
    """The token does not allow this call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class DeadlineExceededError(TradewindClientError):
    """The state service did not answer in time."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class WaitTimeoutError(TradewindClientError, TimeoutError):
    """A wait for a DAG run ended before the run finished."""


_SIMPLE: dict[grpc.StatusCode, type[TradewindClientError]] = {
    cls.code: cls
    for cls in (
        FailedPreconditionError,
        UnauthenticatedError,
        PermissionDeniedError,
    )
    if cls.code is not None
}


def cannot_reach(address: str) -> str:
    """The one-line message for a state service that does not answer at ``address``."""
    return f"cannot reach the state service at {address}: is it running?"


def error_for_status(
    code: grpc.StatusCode,
    message: str,
    trailing_metadata: Sequence[tuple[str, str | bytes]] = (),
    *,
    address: str,
) -> TradewindClientError:
    """Map a failed call to the client exception for its status code.

    Args:
        code: the call's gRPC status code.
        message: the status message the server (or the gRPC library) sent.
        trailing_metadata: the call's trailers; a ``grpc-status-details-bin`` entry carries
            the typed detail.
        address: the address(es) the client was reaching, for transport errors.

    Returns:
        The exception to raise; the base class for codes without a subclass.

    """
    status = _status_details(trailing_metadata)
    if code is grpc.StatusCode.NOT_FOUND:
        found = _unpack(status, errordetails.NotFoundFailure)
        return NotFoundError(
            message,
            resource_type=found.resource_type if found else "",
            resource_id=found.resource_id if found else "",
            details=message,
        )
    if code is grpc.StatusCode.ALREADY_EXISTS:
        exists = _unpack(status, errordetails.AlreadyExistsFailure)
        return AlreadyExistsError(
            message,
            resource_type=exists.resource_type if exists else "",
            resource_id=exists.resource_id if exists else "",
            existing_request_id=exists.existing_request_id if exists else "",
            details=message,
        )
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        bad = _unpack(status, errordetails.BadRequestFailure)
        violations = [FieldViolation(v.field, v.description) for v in bad.violations] if bad else []
        return InvalidArgumentError(message, violations=violations, details=message)
    if code is grpc.StatusCode.UNAVAILABLE:
        # The server's own UNAVAILABLE (its database is down, it is stopping) carries a status
        # trailer; one made by the gRPC library means nothing answered at the address.
        text = (
            f"the state service at {address} is unavailable: {message}"
            if status is not None
            else cannot_reach(address)
        )
        return UnavailableError(text, address=address, details=message)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(
            f"the state service at {address} did not answer in time", details=message
        )
    cls = _SIMPLE.get(code)
    if cls is not None:
        return cls(message, details=message)
    return TradewindClientError(f"{code.name}: {message}", status=code, details=message)


def error_from_rpc(err: grpc.RpcError, *, address: str) -> TradewindClientError:
    """Map a failed call (``aio.AioRpcError`` or a blocking ``grpc.RpcError``) to its exception.

    Args:
        err: the error the gRPC library raised.
        address: the address(es) the client was reaching.

    Returns:
        The client exception; raise it ``from err``.

    """
    if isinstance(err, aio.AioRpcError):
        # grpc-stubs types metadata items as objects; at run time they are (key, value) pairs.
        trailers: Any = tuple(err.trailing_metadata() or ())
        return error_for_status(err.code(), err.details() or "", trailers, address=address)
    code = getattr(err, "code", lambda: grpc.StatusCode.UNKNOWN)()
    details = getattr(err, "details", lambda: "")() or ""
    trailing = getattr(err, "trailing_metadata", lambda: ())() or ()
    return error_for_status(code, details, tuple(trailing), address=address)


def _status_details(
    trailing_metadata: Sequence[tuple[str, str | bytes]],
) -> status_pb2.Status | None:
    for key, value in trailing_metadata:
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None
    return None


def _unpack(status: status_pb2.Status | None, detail_type: type[_M]) -> _M | None:
    if status is None:
        return None
    for packed in status.details:
        detail = detail_type()
        if packed.Unpack(detail):
            return detail
    return None


def _label(resource_type: str) -> str:
    return _RESOURCE_LABELS.get(resource_type, resource_type.replace("_", " "))
