"""DagProcessorService."""

from __future__ import annotations

from protos.dag_processor.v1 import service_pb2_grpc
from services.state.services import StateServices


class DagProcessorServicer(service_pb2_grpc.DagProcessorServiceServicer):
    """DagProcessorService on the state service."""

    def __init__(self, services: StateServices) -> None:
        self._services = services
