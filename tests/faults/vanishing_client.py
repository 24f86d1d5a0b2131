"""A client that keeps streams and long polls open on the state service until it is killed.

Run as ``python -m tests.faults.vanishing_client <state address>``; the fault tests SIGKILL it
in the middle of its calls.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from google.protobuf.duration_pb2 import Duration

from protos.event.v1 import request_response_pb2 as event_rr
from protos.event.v1 import service_pb2 as event_service
from protos.event.v1 import service_pb2_grpc as event_grpc
from protos.executor.v1 import request_response_pb2 as executor_rr
from protos.executor.v1 import service_pb2 as executor_service
from protos.executor.v1 import service_pb2_grpc as executor_grpc
from tradewind_common.channels import ChannelConfig, create_channel

SERVICES = [
    event_service.DESCRIPTOR.services_by_name["EventService"],
    executor_service.DESCRIPTOR.services_by_name["ExecutorService"],
]


async def main(address: str) -> None:
    async with create_channel(ChannelConfig(targets=(address,)), SERVICES) as channel:
        events = event_grpc.EventServiceStub(channel)
        executor = executor_grpc.ExecutorServiceStub(channel)

        async def watch() -> None:
            async for _ in events.WatchEvents(event_rr.WatchEventsRequest()):
                pass

        async def poll() -> None:
            lease, wait = Duration(seconds=5), Duration(seconds=2)
            while True:
                await executor.LeaseTaskInstances(
                    executor_rr.LeaseTaskInstancesRequest(
                        executor_id=f"vanishing-{uuid.uuid4().hex[:8]}",
                        queues=["nobody-serves-this"],
                        max_leases=1,
                        lease_duration=lease,
                        wait=wait,
                    )
                )

        await asyncio.gather(watch(), watch(), poll())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
