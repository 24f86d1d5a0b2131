"""Errors that RPC handlers raise to fail a call with a proper status code.

Each class fixes its gRPC status code and its stable reason; the error interceptor turns an
instance into a ``google.rpc.Status`` whose details carry, in this order:

1. Tradewind's typed detail from ``protos/errordetails`` (e.g. ``NotFoundFailure``), which
   Tradewind's own client reads;
2. the standard ``google.rpc.error_details`` messages, for any other client (grpcurl, other
   languages): always an ``ErrorInfo`` (``reason``, ``domain`` :data:`ERROR_DOMAIN`, the
   condition's fields in ``metadata``), then what fits the condition: ``BadRequest``,
   ``ResourceInfo``, ``PreconditionFailure``, ``RetryInfo``.

Each class says which standard details it adds in :meth:`ServiceError.error_metadata` and
:meth:`ServiceError.standard_details`; the helpers below build them.
"""

from __future__ import annotations

from typing import ClassVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from protos.errordetails.v1 import message_pb2 as errordetails

#: ``ErrorInfo.domain`` of every error a Tradewind service sends.
ERROR_DOMAIN = "tradewind.io"
#: How long ``RetryInfo`` tells a caller to wait after UNAVAILABLE, when the error names no delay.
UNAVAILABLE_RETRY_AFTER_SECONDS = 1.0


class ServiceError(Exception):
    """An RPC failed; the subclass names the condition and the status code."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    #: ``ErrorInfo.reason``: UPPER_SNAKE, stable for programs to match on; never rename one.
    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str | None = None, *, detail: Message | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())
        self.message: str = self.args[0]
        self.detail = detail

    def to_status(self) -> status_pb2.Status:
        """Return the ``google.rpc.Status`` sent to the caller."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in self.details():
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        return status

    def details(self) -> list[Message]:
        """Every detail sent: Tradewind's typed one first, then ErrorInfo and the standard ones."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata=self.error_metadata()
        )
        own = [self.detail] if self.detail is not None else []
        return [*own, info, *self.standard_details()]

    def error_metadata(self) -> dict[str, str]:
        """``ErrorInfo.metadata``: the condition's fields, keys in lowerCamelCase."""
        return {}

    def standard_details(self) -> list[Message]:
        """The standard ``google.rpc.error_details`` messages sent after ``ErrorInfo``."""
        return []


def resource_metadata(resource_type: str, resource_id: str) -> dict[str, str]:
    """``ErrorInfo.metadata`` naming a resource."""
    return {"resourceType": resource_type, "resourceId": resource_id}


def resource_info(
    resource_type: str, resource_id: str, *, owner: str = "", description: str = ""
) -> error_details_pb2.ResourceInfo:
    """``ResourceInfo`` for a resource: its type (``dag``, ``dag_run``...) and id as its name."""
    return error_details_pb2.ResourceInfo(
        resource_type=resource_type,
        resource_name=resource_id,
        owner=owner,
        description=description,
    )


class InvalidArgument(ServiceError):
    """A request field is malformed."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

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

    def error_metadata(self) -> dict[str, str]:
        """The offending field."""
        return {"field": self.field}

    def standard_details(self) -> list[Message]:
        """``BadRequest`` with the field's violation."""
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=self.field, description=self.description
        )
        return [error_details_pb2.BadRequest(field_violations=[violation])]


class NotFound(ServiceError):
    """The named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"

    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(
            f"{resource_type} {resource_id!r} not found",
            detail=errordetails.NotFoundFailure(
                resource_type=resource_type, resource_id=resource_id
            ),
        )
        self.resource_type = resource_type
        self.resource_id = resource_id

    def error_metadata(self) -> dict[str, str]:
        """The missing resource."""
        return resource_metadata(self.resource_type, self.resource_id)

    def standard_details(self) -> list[Message]:
        """``ResourceInfo`` of the missing resource."""
        return [resource_info(self.resource_type, self.resource_id, description="not found")]


class AlreadyExists(ServiceError):
    """The resource exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"

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
        self.existing_request_id = existing_request_id

    def error_metadata(self) -> dict[str, str]:
        """The existing resource, and the request id that created it when it has one."""
        metadata = resource_metadata(self.resource_type, self.resource_id)
        if self.existing_request_id:
            metadata["existingRequestId"] = self.existing_request_id
        return metadata

    def standard_details(self) -> list[Message]:
        """``ResourceInfo`` of the existing resource."""
        return [resource_info(self.resource_type, self.resource_id, description="already exists")]


class FailedPrecondition(ServiceError):
    """The system is not in a state that allows this call."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"

    def precondition_subject(self) -> str:
        """``PreconditionFailure.Violation.subject``: what the precondition is about."""
        return ""

    def standard_details(self) -> list[Message]:
        """``PreconditionFailure`` whose violation's type is the reason."""
        violation = error_details_pb2.PreconditionFailure.Violation(
            type=self.reason, subject=self.precondition_subject(), description=self.message
        )
        return [error_details_pb2.PreconditionFailure(violations=[violation])]


class StateConflict(FailedPrecondition):
    """A compare-and-set found another state than the caller expected."""

    reason = "STATE_CONFLICT"

    def __init__(self, message: str, *, detail: errordetails.StateConflictFailure) -> None:
        super().__init__(message, detail=detail)
        self.resource_type = detail.resource_type
        self.resource_id = detail.resource_id

    def error_metadata(self) -> dict[str, str]:
        """The resource whose state differed."""
        return resource_metadata(self.resource_type, self.resource_id)

    def precondition_subject(self) -> str:
        """The resource, as ``type/id``."""
        return f"{self.resource_type}/{self.resource_id}"

    def standard_details(self) -> list[Message]:
        """``PreconditionFailure``, then ``ResourceInfo`` of the resource."""
        return [
            *super().standard_details(),
            resource_info(self.resource_type, self.resource_id, description="state conflict"),
        ]


class LeaseLost(FailedPrecondition):
    """The caller's lease or claim has expired or belongs to someone else."""

    reason = "LEASE_LOST"

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
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.presented_owner = presented_owner
        self.current_owner = current_owner

    def error_metadata(self) -> dict[str, str]:
        """The leased resource, the owner that presented the lease and the current one."""
        metadata = resource_metadata(self.resource_type, self.resource_id)
        metadata["presentedOwner"] = self.presented_owner
        if self.current_owner:
            metadata["currentOwner"] = self.current_owner
        return metadata

    def precondition_subject(self) -> str:
        """The leased resource, as ``type/id``."""
        return f"{self.resource_type}/{self.resource_id}"

    def standard_details(self) -> list[Message]:
        """``PreconditionFailure``, then ``ResourceInfo`` with the current owner."""
        return [
            *super().standard_details(),
            resource_info(
                self.resource_type,
                self.resource_id,
                owner=self.current_owner,
                description="lease lost",
            ),
        ]


class OutOfRange(ServiceError):
    """A position (cursor, page, sequence) lies outside what the server keeps."""

    code = grpc.StatusCode.OUT_OF_RANGE
    reason = "OUT_OF_RANGE"


class Unavailable(ServiceError):
    """The service cannot answer now (for example, its database is unreachable); retry later."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"

    def __init__(
        self, message: str | None = None, *, retry_after: float = UNAVAILABLE_RETRY_AFTER_SECONDS
    ) -> None:
        super().__init__(message)
        #: Seconds the caller should wait before it retries.
        self.retry_after = retry_after

    def standard_details(self) -> list[Message]:
        """``RetryInfo`` with the delay."""
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(self.retry_after * 1e9))
        return [error_details_pb2.RetryInfo(retry_delay=delay)]


class Unauthenticated(ServiceError):
    """The call carries no valid credential."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    """The caller's credential does not allow this call."""

    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"
