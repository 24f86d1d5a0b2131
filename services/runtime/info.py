"""Identity of the running process, and the ServerInfoService that reports it."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from protos.runtime.v1 import message_pb2, request_response_pb2, service_pb2_grpc
from tradewind_common.version import tradewind_version


def new_instance_id() -> str:
    """A process identity unique across hosts and restarts: ``host-pid-random``."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, kw_only=True)
class ProcessIdentity:
    """Who this process is; the instance id owns its leases and claims."""

    service: str
    instance_id: str
    version: str
    hostname: str
    pid: int
    started_at: datetime

    @classmethod
    def create(cls, service: str) -> ProcessIdentity:
        """Describe the current process."""
        return cls(
            service=service,
            instance_id=new_instance_id(),
            version=tradewind_version(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(UTC),
        )


class ServerInfoServicer(service_pb2_grpc.ServerInfoServiceServicer):
    """Answers GetServerInfo with this process's identity and addresses."""

    def __init__(self, identity: ProcessIdentity, *, grpc_address: str, metrics_port: int) -> None:
        started_at = Timestamp()
        started_at.FromDatetime(identity.started_at)
        self._info = message_pb2.ServerInfo(
            service=identity.service,
            version=identity.version,
            instance_id=identity.instance_id,
            hostname=identity.hostname,
            pid=identity.pid,
            started_at=started_at,
            grpc_address=grpc_address,
            metrics_port=metrics_port,
        )

    async def GetServerInfo(
        self,
        request: request_response_pb2.GetServerInfoRequest,
        context: aio.ServicerContext[Any, Any],
    ) -> request_response_pb2.GetServerInfoResponse:
        """Describe this process."""
        return request_response_pb2.GetServerInfoResponse(info=self._info)
