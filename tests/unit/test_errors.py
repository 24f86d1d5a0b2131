from __future__ import annotations

import grpc
from grpc_status import rpc_status

from protos.errordetails.v1 import message_pb2 as errordetails
from services.runtime.errors import InvalidArgument, LeaseLost, NotFound, Unavailable


def test_not_found_carries_a_typed_detail() -> None:
    status = NotFound("dag", "etl").to_status()
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert status.message == "dag 'etl' not found"
    detail = errordetails.NotFoundFailure()
    assert status.details[0].Unpack(detail)
    assert (detail.resource_type, detail.resource_id) == ("dag", "etl")


def test_invalid_argument_names_the_field() -> None:
    status = InvalidArgument("conf_json", "must be a JSON object").to_status()
    detail = errordetails.BadRequestFailure()
    assert status.details[0].Unpack(detail)
    assert detail.violations[0].field == "conf_json"
    assert status.message == "invalid conf_json: must be a JSON object"


def test_lease_lost_is_a_failed_precondition() -> None:
    error = LeaseLost("task_instance", "d/r/t", presented_owner="ex-1", current_owner="ex-2")
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "held by 'ex-2'" in error.message


def test_docstring_is_the_default_message() -> None:
    assert Unavailable().message.startswith("The service cannot answer now")


def test_status_converts_to_grpc_trailers() -> None:
    status = rpc_status.to_status(NotFound("pool", "p").to_status())
    assert status.code is grpc.StatusCode.NOT_FOUND
    assert any(key == "grpc-status-details-bin" for key, _ in status.trailing_metadata)
