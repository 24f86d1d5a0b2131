"""Server reflection under both of its names, ``grpc.reflection.v1`` and ``v1alpha``.

grpcio-reflection serves only ``grpc.reflection.v1alpha.ServerReflection``; current clients
(grpcurl, Postman, other languages' tools) ask for ``grpc.reflection.v1.ServerReflection``
first. The two are the same protocol: their messages are wire-identical and only the package
differs. So the v1alpha servicer answers both, and the v1 service's descriptor, made from the
v1alpha one under the v1 package, is added to the default pool so that reflection can describe
itself under either name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc import aio
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

# The asyncio reflection servicer; the package's stubs do not export it.
AsyncReflectionServicer: Any = reflection.aio.ReflectionServicer  # type: ignore[attr-defined]
#: The full names of the two reflection services.
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
#: The v1 protocol's file, package and options, as in gRPC's ``reflection/v1/reflection.proto``.
_V1_FILE = "grpc/reflection/v1/reflection.proto"
_V1_PACKAGE = "grpc.reflection.v1"
_V1_OPTIONS = descriptor_pb2.FileOptions(
    java_package="io.grpc.reflection.v1",
    java_outer_classname="ServerReflectionProto",
    java_multiple_files=True,
    go_package="google.golang.org/grpc/reflection/grpc_reflection_v1",
)


def enable_reflection(service_names: Iterable[str], server: aio.Server) -> None:
    """Serve reflection on ``server`` as v1 and v1alpha, listing ``service_names`` and both."""
    _add_v1_descriptor()
    names = [*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    servicer = AsyncReflectionServicer(names)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": handler}),)
    )


def v1_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The v1 reflection protocol's file: the v1alpha one under the v1 package."""
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    old = f".{proto.package}."
    proto.name = _V1_FILE
    proto.package = _V1_PACKAGE
    proto.options.CopyFrom(_V1_OPTIONS)
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(old, f".{_V1_PACKAGE}.", 1)
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, f".{_V1_PACKAGE}.", 1)
            method.output_type = method.output_type.replace(old, f".{_V1_PACKAGE}.", 1)
    return proto


def _add_v1_descriptor() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(V1_SERVICE_NAME)
    except KeyError:
        pool.AddSerializedFile(v1_file_descriptor().SerializeToString())
