"""Every ServiceError sends Tradewind's typed detail first, then the standard google.rpc ones."""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from protos.enums.v1 import task_instance_pb2
from protos.errordetails.v1 import message_pb2 as errordetails
from services.runtime import errors
from services.runtime.errors import (
    ERROR_DOMAIN,
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
from tradewind.client import (
    AlreadyExistsError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from tradewind.client._errors import error_for_status

ErrorInfo = error_details_pb2.ErrorInfo
BadRequest = error_details_pb2.BadRequest
ResourceInfo = error_details_pb2.ResourceInfo
PreconditionFailure = error_details_pb2.PreconditionFailure
RetryInfo = error_details_pb2.RetryInfo

CONFLICT = errordetails.StateConflictFailure(
    resource_type="task_instance",
    resource_id="etl/r1/load",
    expected_task_instance_state=task_instance_pb2.TASK_INSTANCE_STATE_RUNNING,
    actual_task_instance_state=task_instance_pb2.TASK_INSTANCE_STATE_SUCCESS,
)

#: One instance of every class, its reason, ErrorInfo metadata, and the types of all its
#: details in the order they are sent.
CASES: list[tuple[ServiceError, str, dict[str, str], list[type[Message]]]] = [
    (
        InvalidArgument("conf_json", "must be a JSON object"),
        "INVALID_ARGUMENT",
        {"field": "conf_json"},
        [errordetails.BadRequestFailure, ErrorInfo, BadRequest],
    ),
    (
        NotFound("dag", "etl"),
        "NOT_FOUND",
        {"resourceType": "dag", "resourceId": "etl"},
        [errordetails.NotFoundFailure, ErrorInfo, ResourceInfo],
    ),
    (
        AlreadyExists("dag_run", "etl/manual__1", existing_request_id="req-1"),
        "ALREADY_EXISTS",
        {"resourceType": "dag_run", "resourceId": "etl/manual__1", "existingRequestId": "req-1"},
        [errordetails.AlreadyExistsFailure, ErrorInfo, ResourceInfo],
    ),
    (
        FailedPrecondition("the DAG is paused"),
        "FAILED_PRECONDITION",
        {},
        [ErrorInfo, PreconditionFailure],
    ),
    (
        StateConflict("the try is no longer running", detail=CONFLICT),
        "STATE_CONFLICT",
        {"resourceType": "task_instance", "resourceId": "etl/r1/load"},
        [errordetails.StateConflictFailure, ErrorInfo, PreconditionFailure, ResourceInfo],
    ),
    (
        LeaseLost("task_instance", "etl/r1/load", presented_owner="ex-1", current_owner="ex-2"),
        "LEASE_LOST",
        {
            "resourceType": "task_instance",
            "resourceId": "etl/r1/load",
            "presentedOwner": "ex-1",
            "currentOwner": "ex-2",
        },
        [errordetails.LeaseLostFailure, ErrorInfo, PreconditionFailure, ResourceInfo],
    ),
    (OutOfRange("cursor 3 is too old"), "OUT_OF_RANGE", {}, [ErrorInfo]),
    (Unavailable("the database is unreachable"), "UNAVAILABLE", {}, [ErrorInfo, RetryInfo]),
    (Unauthenticated("no token"), "UNAUTHENTICATED", {}, [ErrorInfo]),
    (PermissionDenied("not allowed"), "PERMISSION_DENIED", {}, [ErrorInfo]),
    (ServiceError("internal error in /x/Y"), "INTERNAL", {}, [ErrorInfo]),
]


def _subclasses(cls: type[ServiceError]) -> set[type[ServiceError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _unpack(packed: any_pb2.Any, detail_type: type[Message]) -> Any:
    detail = detail_type()
    assert packed.Unpack(detail), f"{packed.type_url} is not {detail_type.__name__}"
    return detail


def _only(status: status_pb2.Status, detail_type: type[Message]) -> Any:
    (packed,) = [p for p in status.details if p.Is(detail_type.DESCRIPTOR)]
    return _unpack(packed, detail_type)


def test_every_service_error_class_has_a_case_and_its_own_stable_reason() -> None:
    classes = {ServiceError} | {
        cls for cls in _subclasses(ServiceError) if cls.__module__ == errors.__name__
    }
    assert {type(error) for error, *_ in CASES} == classes
    reasons = [cls.reason for cls in classes]
    assert len(set(reasons)) == len(reasons), reasons
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*[A-Z0-9]", reason) for reason in reasons)


@pytest.mark.parametrize(
    ("error", "reason", "metadata", "types"), CASES, ids=[type(c[0]).__name__ for c in CASES]
)
def test_details_are_the_typed_one_first_then_error_info_and_the_standard_ones(
    error: ServiceError, reason: str, metadata: dict[str, str], types: list[type[Message]]
) -> None:
    status = error.to_status()
    assert status.code == error.code.value[0]
    assert status.message == error.message
    assert [p.type_url.rsplit("/", 1)[1] for p in status.details] == [
        t.DESCRIPTOR.full_name for t in types
    ]
    info = _only(status, ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (reason, ERROR_DOMAIN, metadata)
    # AIP-193: metadata keys are lowerCamelCase, at most 64 characters.
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9]{0,63}", key) for key in info.metadata)


def test_invalid_argument_sends_bad_request_with_the_field_violation() -> None:
    status = InvalidArgument("transitions[3].new_state", "is not a state").to_status()
    violation = _only(status, BadRequest).field_violations[0]
    assert (violation.field, violation.description) == (
        "transitions[3].new_state",
        "is not a state",
    )


@pytest.mark.parametrize(
    ("error", "description"),
    [(NotFound("pool", "p1"), "not found"), (AlreadyExists("pool", "p1"), "already exists")],
)
def test_resource_errors_send_resource_info(error: ServiceError, description: str) -> None:
    info = _only(error.to_status(), ResourceInfo)
    assert (info.resource_type, info.resource_name, info.owner, info.description) == (
        "pool",
        "p1",
        "",
        description,
    )


def test_lease_lost_sends_the_precondition_and_the_current_owner() -> None:
    error = LeaseLost("try", "etl/r1/load/1", presented_owner="ex-1", current_owner="ex-2")
    status = error.to_status()
    violation = _only(status, PreconditionFailure).violations[0]
    assert (violation.type, violation.subject) == ("LEASE_LOST", "try/etl/r1/load/1")
    assert violation.description == error.message
    resource = _only(status, ResourceInfo)
    assert (resource.resource_type, resource.resource_name, resource.owner) == (
        "try",
        "etl/r1/load/1",
        "ex-2",
    )


def test_lease_lost_held_by_nobody_has_no_current_owner() -> None:
    status = LeaseLost("try", "t", presented_owner="ex-1").to_status()
    assert "currentOwner" not in _only(status, ErrorInfo).metadata
    assert _only(status, ResourceInfo).owner == ""


def test_state_conflict_names_the_resource_in_the_precondition() -> None:
    status = StateConflict("the try is no longer running", detail=CONFLICT).to_status()
    violation = _only(status, PreconditionFailure).violations[0]
    assert (violation.type, violation.subject) == ("STATE_CONFLICT", "task_instance/etl/r1/load")
    assert _only(status, errordetails.StateConflictFailure) == CONFLICT


def test_a_plain_failed_precondition_describes_itself_in_the_violation() -> None:
    violation = _only(FailedPrecondition("the DAG is paused").to_status(), PreconditionFailure)
    assert (violation.violations[0].type, violation.violations[0].subject) == (
        "FAILED_PRECONDITION",
        "",
    )
    assert violation.violations[0].description == "the DAG is paused"


def test_unavailable_tells_when_to_retry() -> None:
    default = _only(Unavailable().to_status(), RetryInfo).retry_delay
    assert default.ToTimedelta().total_seconds() == errors.UNAVAILABLE_RETRY_AFTER_SECONDS
    later = _only(Unavailable("busy", retry_after=2.5).to_status(), RetryInfo).retry_delay
    assert (later.seconds, later.nanos) == (2, 500_000_000)


def test_a_caller_given_detail_still_comes_first() -> None:
    custom = errordetails.NotFoundFailure(resource_type="x", resource_id="y")
    status = ServiceError("boom", detail=custom).to_status()
    assert _unpack(status.details[0], errordetails.NotFoundFailure) == custom
    assert status.details[1].Is(ErrorInfo.DESCRIPTOR)


def test_the_status_survives_the_trip_through_trailers() -> None:
    sent = rpc_status.to_status(NotFound("dag", "etl").to_status())
    assert sent.code is grpc.StatusCode.NOT_FOUND
    (value,) = [v for k, v in sent.trailing_metadata if k == "grpc-status-details-bin"]
    status = status_pb2.Status.FromString(value)
    assert _only(status, ErrorInfo).reason == "NOT_FOUND"


def _as_received(status: status_pb2.Status) -> Any:
    sent = rpc_status.to_status(status)
    return error_for_status(sent.code, sent.details, sent.trailing_metadata, address="a:1")


def test_the_client_reads_its_own_details_beside_the_standard_ones() -> None:
    found = _as_received(NotFound("dag", "etl").to_status())
    assert isinstance(found, NotFoundError)
    assert (found.resource_type, found.resource_id) == ("dag", "etl")
    exists = _as_received(AlreadyExists("dag_run", "etl/1", existing_request_id="r").to_status())
    assert isinstance(exists, AlreadyExistsError)
    assert exists.existing_request_id == "r"
    bad = _as_received(InvalidArgument("conf_json", "must be a JSON object").to_status())
    assert isinstance(bad, InvalidArgumentError)
    assert bad.violations == (FieldViolation("conf_json", "must be a JSON object"),)
    down = _as_received(Unavailable("the database is unreachable").to_status())
    assert isinstance(down, UnavailableError)
    assert "is unavailable: the database is unreachable" in str(down)


def test_the_client_skips_details_it_does_not_know_wherever_they_stand() -> None:
    status = NotFound("dag", "etl").to_status()
    foreign = any_pb2.Any(type_url="type.example.com/other.v1.Unknown", value=b"\x0a\x01x")
    reordered = [foreign, *reversed(status.details)]
    del status.details[:]
    status.details.extend(reordered)
    found = _as_received(status)
    assert isinstance(found, NotFoundError)
    assert (found.resource_type, found.resource_id) == ("dag", "etl")
