"""TaskService."""

from __future__ import annotations

from protos.task.v1 import service_pb2_grpc
from services.state.services import StateServices


class TaskServicer(service_pb2_grpc.TaskServiceServicer):
    """TaskService on the state service."""

    def __init__(self, services: StateServices) -> None:
        self._services = services
