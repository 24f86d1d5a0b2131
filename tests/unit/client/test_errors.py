"""One mapping from gRPC status codes to the client's exceptions, with the typed details."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from grpc_status import rpc_status

from services.runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from tradewind.client import (
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
from tradewind.client._errors import error_for_status, error_from_rpc

ADDRESS = "127.0.0.1:50051"


def as_sent(error: ServiceError) -> TradewindClientError:
    """What the client raises for an error the state service's interceptor sends."""
    status = rpc_status.to_status(error.to_status())
    return error_for_status(status.code, status.details, status.trailing_metadata, address=ADDRESS)


def test_not_found_names_the_resource_from_its_detail() -> None:
    error = as_sent(NotFound("dag", "etl"))
    assert isinstance(error, NotFoundError)
    assert str(error) == "DAG 'etl' not found"
    assert (error.resource_type, error.resource_id) == ("dag", "etl")
    assert error.status is grpc.StatusCode.NOT_FOUND
    assert error.details == "dag 'etl' not found"


def test_already_exists_carries_the_existing_request_id() -> None:
    error = as_sent(AlreadyExists("dag_run", "etl/manual__1", existing_request_id="req-1"))
    assert isinstance(error, AlreadyExistsError)
    assert str(error) == "DAG run 'etl/manual__1' already exists"
    assert error.existing_request_id == "req-1"


def test_invalid_argument_carries_the_field_from_the_bad_request_detail() -> None:
    error = as_sent(InvalidArgument("conf_json", "must be a JSON object"))
    assert isinstance(error, InvalidArgumentError)
    assert error.field == "conf_json"
    assert error.violations == (FieldViolation("conf_json", "must be a JSON object"),)
    assert str(error) == "invalid conf_json: must be a JSON object"


@pytest.mark.parametrize(
    ("sent", "raised"),
    [
        (FailedPrecondition("default_pool cannot be deleted"), FailedPreconditionError),
        (Unauthenticated("no token"), UnauthenticatedError),
        (PermissionDenied("not allowed"), PermissionDeniedError),
    ],
)
def test_other_codes_keep_the_servers_message(
    sent: ServiceError, raised: type[TradewindClientError]
) -> None:
    error = as_sent(sent)
    assert type(error) is raised
    assert str(error) == sent.message
    assert error.status is sent.code


def test_a_transport_failure_says_the_service_cannot_be_reached() -> None:
    error = error_for_status(
        grpc.StatusCode.UNAVAILABLE,
        "failed to connect to all addresses; last error: Connection refused",
        address=ADDRESS,
    )
    assert isinstance(error, UnavailableError)
    assert str(error) == f"cannot reach the state service at {ADDRESS}: is it running?"
    assert error.address == ADDRESS
    assert "Connection refused" in error.details


def test_the_servers_own_unavailable_keeps_its_reason() -> None:
    error = as_sent(Unavailable("the database is unreachable"))
    assert isinstance(error, UnavailableError)
    assert str(error) == (
        f"the state service at {ADDRESS} is unavailable: the database is unreachable"
    )


def test_a_deadline_and_unknown_codes() -> None:
    late = error_for_status(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", address=ADDRESS)
    assert isinstance(late, DeadlineExceededError)
    assert ADDRESS in str(late)
    odd = error_for_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big", address=ADDRESS)
    assert type(odd) is TradewindClientError
    assert odd.status is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(odd) == "RESOURCE_EXHAUSTED: too big"


def test_a_garbled_details_trailer_falls_back_to_the_message() -> None:
    error = error_for_status(
        grpc.StatusCode.NOT_FOUND,
        "dag 'x' not found",
        [("grpc-status-details-bin", b"\xff\xff not a status")],
        address=ADDRESS,
    )
    assert isinstance(error, NotFoundError)
    assert str(error) == "dag 'x' not found"


def test_an_aio_rpc_error_is_mapped_with_its_trailers() -> None:
    status = rpc_status.to_status(NotFound("pool", "big").to_status())
    err = aio.AioRpcError(
        status.code,
        aio.Metadata(),
        aio.Metadata(*status.trailing_metadata),
        details=status.details,
        debug_error_string="",
    )
    error = error_from_rpc(err, address=ADDRESS)
    assert isinstance(error, NotFoundError)
    assert str(error) == "pool 'big' not found"


def test_every_error_is_a_client_error_and_a_wait_timeout_is_a_timeout() -> None:
    for cls in (NotFoundError, UnavailableError, InvalidArgumentError, WaitTimeoutError):
        assert issubclass(cls, TradewindClientError)
    assert issubclass(WaitTimeoutError, TimeoutError)
    assert str(WaitTimeoutError()) == "A wait for a DAG run ended before the run finished."
