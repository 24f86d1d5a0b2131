"""ApiService."""

from __future__ import annotations

from protos.api.v1 import service_pb2_grpc
from services.state.services import StateServices


class ApiServicer(service_pb2_grpc.ApiServiceServicer):
    """ApiService on the state service."""

    def __init__(self, services: StateServices) -> None:
        self._services = services
