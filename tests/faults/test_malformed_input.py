"""Random and boundary values sent to every RPC of the state service (the public API and the
internal ones): the answer is always a proper status (never UNKNOWN or INTERNAL), and the
service stays healthy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.databases import TemplateDatabases
from tests.helpers.processes import ServiceProcess, health_status
from tests.helpers.state import ALL_SERVICES, start_state

METHODS = {f"{s.name}.{m.name}": (s, m) for s in ALL_SERVICES for m in s.methods}
ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.PERMISSION_DENIED,
}
#: Streams are cut after this long; what they said until then is what counts.
STREAM_SECONDS = 0.5

TEXT = st.one_of(
    st.just(""),
    st.sampled_from(["example", "default_pool", "a" * 300, "../../etc/passwd", "x/y", "%", "_"]),
    st.text(max_size=40),
)
INTS = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1), st.sampled_from([0, -1, 1, 10**6])
)


def _message(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None
    return field.message_type


def _enum(field: FieldDescriptor) -> EnumDescriptor:
    assert field.enum_type is not None
    return field.enum_type


def values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    """A strategy for one field's value (a list for repeated fields)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if _message(field).full_name == "google.protobuf.Timestamp":
            single: st.SearchStrategy[Any] = st.builds(
                lambda s, n: {"seconds": s, "nanos": n},
                st.integers(min_value=-62135596800, max_value=253402300799),
                st.integers(min_value=0, max_value=999_999_999),
            )
        elif _message(field).full_name == "google.protobuf.Duration":
            single = st.builds(
                lambda s: {"seconds": s}, st.integers(min_value=-(10**6), max_value=10**6)
            )
        elif depth > 2:
            single = st.just({})
        else:
            single = messages(_message(field), depth + 1)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        single = st.sampled_from([v.number for v in _enum(field).values] + [999])
    elif field.type == FieldDescriptor.TYPE_BOOL:
        single = st.booleans()
    elif field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        single = TEXT
    elif field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64):
        single = (
            st.integers(min_value=-(2**63), max_value=2**63 - 1)
            if field.type == FieldDescriptor.TYPE_INT64
            else st.integers(min_value=0, max_value=2**64 - 1)
        )
    else:
        single = INTS
    if field.is_repeated:
        return st.lists(single, max_size=3)
    return single


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A strategy for a message's fields, each present or not."""
    return st.fixed_dictionaries(
        {},
        optional={
            field.name: values(field, depth)
            for field in descriptor.fields
            if not field.message_type or not field.message_type.GetOptions().map_entry
        },
    )


def build(descriptor: Descriptor, fields: dict[str, Any]) -> Message:
    """The request message, skipping values protobuf itself refuses (e.g. bad enum numbers)."""
    message = GetMessageClass(descriptor)()
    for name, value in fields.items():
        field = descriptor.fields_by_name[name]
        try:
            _assign(message, field, value)
        except (ValueError, TypeError):
            continue
    return message


def _assign(message: Message, field: FieldDescriptor, value: Any) -> None:
    if field.is_repeated:
        target = getattr(message, field.name)
        for item in value:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                target.append(build(_message(field), item))
            else:
                target.append(value_of(field, item))
        return
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(message, field.name).CopyFrom(build(_message(field), value))
    else:
        setattr(message, field.name, value_of(field, value))


def value_of(field: FieldDescriptor, value: Any) -> Any:
    return (
        value.encode()
        if field.type == FieldDescriptor.TYPE_BYTES and isinstance(value, str)
        else value
    )


@pytest.fixture(scope="module")
def state(template_databases: TemplateDatabases) -> Iterator[ServiceProcess]:
    process = start_state(template_databases.new_url("sqlite"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def channel(state: ServiceProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(state.address) as opened:
        yield opened


def call(
    channel: grpc.Channel, service: ServiceDescriptor, method: MethodDescriptor, request: Message
) -> grpc.StatusCode:
    path = f"/{service.full_name}/{method.name}"
    response_class = GetMessageClass(method.output_type)
    if method.server_streaming:
        stream = channel.unary_stream(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        try:
            for _ in stream(request, timeout=STREAM_SECONDS):
                pass
        except grpc.RpcError as err:
            code = err.code()
            return grpc.StatusCode.OK if code == grpc.StatusCode.DEADLINE_EXCEEDED else code
        return grpc.StatusCode.OK
    unary = channel.unary_unary(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    try:
        unary(request, timeout=10)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


@pytest.mark.timeout(300)
@pytest.mark.parametrize("method_name", sorted(METHODS))
def test_every_rpc_answers_random_input_with_a_proper_status(
    method_name: str, channel: grpc.Channel, state: ServiceProcess
) -> None:
    service, method = METHODS[method_name]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fields=messages(method.input_type))
    def check(fields: dict[str, Any]) -> None:
        request = build(method.input_type, fields)
        if method.name == "LeaseTaskInstances":
            request.ClearField("wait")  # a long poll would only test the client's patience
        code = call(channel, service, method, request)
        assert code in ACCEPTABLE, f"{method_name}({request}) -> {code}"

    check()
    assert health_status(state.address) == health_pb2.HealthCheckResponse.SERVING


#: Bytes no message decodes: a field tag announcing a length longer than what follows.
UNDECODABLE = b"\x0a\xff\xff\xff\x0f"


@pytest.mark.parametrize("method_name", sorted(METHODS))
def test_every_rpc_answers_undecodable_bytes_with_invalid_argument(
    method_name: str, channel: grpc.Channel, state: ServiceProcess
) -> None:
    service, method = METHODS[method_name]
    path = f"/{service.full_name}/{method.name}"

    def send() -> None:
        if method.server_streaming:
            for _ in channel.unary_stream(path, None, None)(UNDECODABLE, timeout=5):
                pass
        else:
            channel.unary_unary(path, None, None)(UNDECODABLE, timeout=5)

    with pytest.raises(grpc.RpcError) as raised:
        send()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert raised.value.details() == (
        "invalid request: cannot be decoded as this method's message (5 bytes):"
        " check the client's contract version"
    )
    # With the standard details too, for clients of other languages.
    status = rpc_status.from_call(raised.value)  # type: ignore[arg-type]
    assert status is not None
    kinds = {detail.type_url.rsplit("/", 1)[-1] for detail in status.details}
    assert {"google.rpc.ErrorInfo", "google.rpc.BadRequest"} <= kinds
