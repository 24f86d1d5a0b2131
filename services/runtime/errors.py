"""Errors that RPC handlers raise to fail a call with a proper status code.

Each class fixes its gRPC status code; the error interceptor turns an instance into a
``google.rpc.Status`` with the typed detail from ``protos/errordetails`` so that callers get a
message a person can act on and a detail a program can read.
"""

from __future__ import annotations

from typing import ClassVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from protos.errordetails.v1 import message_pb2 as errordetails


class ServiceError(Exception):
    """An RPC failed; the subclass names the condition and the status code."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(self, message: str | None = None, *, detail: Message | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())
        self.message: str = self.args[0]
        self.detail = detail

    def to_status(self) -> status_pb2.Status:
        """Return the ``google.rpc.Status`` sent to the caller."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.detail is not None:
            packed = any_pb2.Any()
            packed.Pack(self.detail)
            status.details.append(packed)
        return status


class InvalidArgument(ServiceError):
    """A request field is malformed."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, description: str) -> None:
        violation = errordetails.BadRequestFailure.FieldViolation(
            field=field, description=description
        )
        super().__init__(
            f"invalid {field}: {description}",
            detail=errordetails.BadRequestFailure(violations=[violation]),
        )
        self.field = field
        self.description = description


class NotFound(ServiceError):
    """The named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(
            f"{resource_type} {resource_id!r} not found",
            detail=errordetails.NotFoundFailure(
                resource_type=resource_type, resource_id=resource_id
            ),
        )
        self.resource_type = resource_type
        self.resource_id = resource_id


class AlreadyExists(ServiceError):
    """The resource exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(
        self, resource_type: str, resource_id: str, *, existing_request_id: str = ""
    ) -> None:
        super().__init__(
            f"{resource_type} {resource_id!r} already exists",
            detail=errordetails.AlreadyExistsFailure(
                resource_type=resource_type,
                resource_id=resource_id,
                existing_request_id=existing_request_id,
            ),
        )
        self.resource_type = resource_type
        self.resource_id = resource_id


class FailedPrecondition(ServiceError):
    """The system is not in a state that allows this call."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class StateConflict(FailedPrecondition):
    """A compare-and-set found another state than the caller expected."""

    def __init__(self, message: str, *, detail: errordetails.StateConflictFailure) -> None:
        super().__init__(message, detail=detail)


class LeaseLost(FailedPrecondition):
    """The caller's lease or claim has expired or belongs to someone else."""

    def __init__(
        self,
        resource_type: str,
        resource_id: str,
        *,
        presented_owner: str,
        current_owner: str = "",
    ) -> None:
        holder = f"held by {current_owner!r}" if current_owner else "not held by anyone"
        super().__init__(
            f"lease on {resource_type} {resource_id!r} is lost: it is {holder}, "
            f"not by {presented_owner!r}; stop working on it",
            detail=errordetails.LeaseLostFailure(
                resource_type=resource_type,
                resource_id=resource_id,
                presented_owner=presented_owner,
                current_owner=current_owner,
            ),
        )


class OutOfRange(ServiceError):
    """A position (cursor, page, sequence) lies outside what the server keeps."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unavailable(ServiceError):
    """The service cannot answer now (for example, its database is unreachable); retry later."""

    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(ServiceError):
    """The call carries no valid credential."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(ServiceError):
    """The caller's credential does not allow this call."""

    code = grpc.StatusCode.PERMISSION_DENIED
