"""What a foreign client sees of a real state service: standard google.rpc error details,
reflection under v1 and v1alpha, and RESOURCE_EXHAUSTED for a request over the size limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from protos.api.v1 import request_response_pb2 as api_messages
from protos.api.v1 import service_pb2_grpc as api_grpc
from protos.errordetails.v1 import message_pb2 as errordetails
from services.runtime.errors import ERROR_DOMAIN
from tests.helpers.databases import TemplateDatabases
from tests.helpers.processes import ServiceProcess, health_status
from tests.helpers.state import ALL_SERVICES, start_state
from tradewind.client import InvalidArgumentError, NotFoundError
from tradewind.client._errors import error_from_rpc

#: The server's limit on a received message (``grpc.max_receive_message_length``).
SERVER_MAX_RECEIVE = 64 * 1024 * 1024
REFLECTION = {
    "v1": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "v1alpha": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}


@pytest.fixture(scope="module")
def state(template_databases: TemplateDatabases) -> Iterator[ServiceProcess]:
    process = start_state(template_databases.new_url("sqlite"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def channel(state: ServiceProcess) -> Iterator[grpc.Channel]:
    # Sends past the server's limit, so that the server (not this client) refuses.
    options = [("grpc.max_send_message_length", SERVER_MAX_RECEIVE + 1024 * 1024)]
    with grpc.insecure_channel(state.address, options=options) as opened:
        yield opened


def failed_call(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value


def detail(status: status_pb2.Status, detail_type: type[Any]) -> Any:
    found = [p for p in status.details if p.Is(detail_type.DESCRIPTOR)]
    assert len(found) == 1, f"{len(found)} {detail_type.__name__} in {status.details}"
    message = detail_type()
    found[0].Unpack(message)
    return message


def test_not_found_carries_error_info_and_resource_info(
    channel: grpc.Channel, state: ServiceProcess
) -> None:
    stub = api_grpc.ApiServiceStub(channel)
    err = failed_call(stub.GetDag, api_messages.GetDagRequest(dag_id="no_such_dag"))
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert status.message == "dag 'no_such_dag' not found"
    assert status.details[0].Is(errordetails.NotFoundFailure.DESCRIPTOR)
    info = detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("NOT_FOUND", ERROR_DOMAIN)
    assert dict(info.metadata) == {"resourceType": "dag", "resourceId": "no_such_dag"}
    resource = detail(status, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("dag", "no_such_dag")
    # Tradewind's own client still reads its own detail.
    mapped = error_from_rpc(err, address=state.address)
    assert isinstance(mapped, NotFoundError)
    assert (mapped.resource_type, mapped.resource_id) == ("dag", "no_such_dag")


def test_invalid_argument_carries_bad_request(channel: grpc.Channel, state: ServiceProcess) -> None:
    stub = api_grpc.ApiServiceStub(channel)
    err = failed_call(stub.GetDag, api_messages.GetDagRequest(dag_id="x" * 300))
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    violation = detail(status, error_details_pb2.BadRequest).field_violations[0]
    assert violation.field == "dag_id"
    assert "250" in violation.description
    info = detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, dict(info.metadata)) == ("INVALID_ARGUMENT", {"field": "dag_id"})
    mapped = error_from_rpc(err, address=state.address)
    assert isinstance(mapped, InvalidArgumentError)
    assert mapped.field == "dag_id"


def reflect(
    channel: grpc.Channel, version: str, *requests: reflection_pb2.ServerReflectionRequest
) -> list[reflection_pb2.ServerReflectionResponse]:
    """Ask the reflection service of ``version``: the messages of both are wire-identical."""
    call = channel.stream_stream(
        REFLECTION[version],
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return list(call(iter(requests), timeout=10))


@pytest.mark.parametrize("version", sorted(REFLECTION))
def test_reflection_lists_and_describes_the_services_as_v1_and_v1alpha(
    channel: grpc.Channel, version: str
) -> None:
    listed, described, reflecting = reflect(
        channel,
        version,
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="tradewind.api.v1.ApiService"
        ),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol=f"grpc.reflection.{version}.ServerReflection"
        ),
    )
    names = {s.name for s in listed.list_services_response.service}
    assert {s.full_name for s in ALL_SERVICES} <= names
    assert {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "tradewind.runtime.v1.ServerInfoService",
    } <= names
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    assert "tradewind.api.v1" in {f.package for f in files}
    own = descriptor_pb2.FileDescriptorProto.FromString(
        reflecting.file_descriptor_response.file_descriptor_proto[0]
    )
    assert (own.package, own.service[0].name) == (f"grpc.reflection.{version}", "ServerReflection")


def test_a_request_over_the_size_limit_is_resource_exhausted(
    channel: grpc.Channel, state: ServiceProcess
) -> None:
    # GetDagRequest.dag_id (field 1, length-delimited) just over the limit, built in one
    # allocation and sent as bytes, so the test holds the payload only once.
    length = SERVER_MAX_RECEIVE + 1
    varint = bytearray()
    rest = length
    while rest > 0x7F:
        varint.append(rest & 0x7F | 0x80)
        rest >>= 7
    varint.append(rest)
    header = b"\x0a" + bytes(varint)
    payload = header.ljust(len(header) + length, b"x")
    call = channel.unary_unary("/tradewind.api.v1.ApiService/GetDag", None, None)
    err = failed_call(call, payload)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    size = len(payload)
    assert err.details() == (
        f"SERVER: Received message larger than max ({size} vs. {SERVER_MAX_RECEIVE})"
    )
    assert health_status(state.address) == health_pb2.HealthCheckResponse.SERVING
