"""A real state service process, and async stubs for every API it serves."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from grpc import aio

from protos.api.v1 import service_pb2 as api_service
from protos.api.v1 import service_pb2_grpc as api_grpc
from protos.dag_processor.v1 import service_pb2 as processor_service
from protos.dag_processor.v1 import service_pb2_grpc as processor_grpc
from protos.event.v1 import service_pb2 as event_service
from protos.event.v1 import service_pb2_grpc as event_grpc
from protos.executor.v1 import service_pb2 as executor_service
from protos.executor.v1 import service_pb2_grpc as executor_grpc
from protos.scheduler.v1 import service_pb2 as scheduler_service
from protos.scheduler.v1 import service_pb2_grpc as scheduler_grpc
from protos.task.v1 import service_pb2 as task_service
from protos.task.v1 import service_pb2_grpc as task_grpc
from tests.helpers.processes import ServiceProcess, free_port
from tradewind_common.channels import ChannelConfig, create_channel

#: The tokens a state service with authentication on accepts in tests (see ``secured_state``).
API_TOKEN = "api-token-for-tests"
SERVICE_TOKEN = "service-token-for-tests"

ALL_SERVICES = [
    api_service.DESCRIPTOR.services_by_name["ApiService"],
    processor_service.DESCRIPTOR.services_by_name["DagProcessorService"],
    scheduler_service.DESCRIPTOR.services_by_name["SchedulerService"],
    executor_service.DESCRIPTOR.services_by_name["ExecutorService"],
    task_service.DESCRIPTOR.services_by_name["TaskService"],
    event_service.DESCRIPTOR.services_by_name["EventService"],
]


def start_state(database_url: str, *flags: str, wait: bool = True) -> ServiceProcess:
    """Start a state service on ``database_url`` (already migrated) and wait until it serves.

    Under TLS the plaintext health check cannot reach it: pass ``wait=False`` and wait through
    a TLS channel instead.
    """
    home = tempfile.mkdtemp(prefix="tradewind-home-")
    process = ServiceProcess(
        args=[
            "-m",
            "services.state",
            "--port",
            str(free_port()),
            "--metrics-port",
            "0",
            "--database-url",
            database_url,
            "--home",
            home,
            "--grace-period",
            "2",
            *flags,
        ],
        port=0,
    )
    process.port = int(process.args[process.args.index("--port") + 1])
    process.start()
    return process.wait_serving() if wait else process


@dataclass
class StateClient:
    """Stubs of every state service API over one channel."""

    channel: aio.Channel
    api: api_grpc.ApiServiceAsyncStub
    processor: processor_grpc.DagProcessorServiceAsyncStub
    scheduler: scheduler_grpc.SchedulerServiceAsyncStub
    executor: executor_grpc.ExecutorServiceAsyncStub
    task: task_grpc.TaskServiceAsyncStub
    events: event_grpc.EventServiceAsyncStub


@asynccontextmanager
async def state_client(*addresses: str, token: str = "") -> AsyncIterator[StateClient]:
    """Open stubs to the state service at ``addresses`` (replicas)."""
    async with create_channel(
        ChannelConfig(targets=addresses, token=token), ALL_SERVICES
    ) as channel:
        yield StateClient(
            channel=channel,
            api=api_grpc.ApiServiceStub(channel),
            processor=processor_grpc.DagProcessorServiceStub(channel),
            scheduler=scheduler_grpc.SchedulerServiceStub(channel),
            executor=executor_grpc.ExecutorServiceStub(channel),
            task=task_grpc.TaskServiceStub(channel),
            events=event_grpc.EventServiceStub(channel),
        )
