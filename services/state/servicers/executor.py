"""ExecutorService."""

from __future__ import annotations

from protos.executor.v1 import service_pb2_grpc
from services.state.services import StateServices


class ExecutorServicer(service_pb2_grpc.ExecutorServiceServicer):
    """ExecutorService on the state service."""

    def __init__(self, services: StateServices) -> None:
        self._services = services
