"""SchedulerService."""

from __future__ import annotations

from protos.scheduler.v1 import service_pb2_grpc
from services.state.services import StateServices


class SchedulerServicer(service_pb2_grpc.SchedulerServiceServicer):
    """SchedulerService on the state service."""

    def __init__(self, services: StateServices) -> None:
        self._services = services
