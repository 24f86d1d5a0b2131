"""The gRPC servicers of the state service: validate, run one store operation, convert."""

from __future__ import annotations

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
from protos.triggerer.v1 import service_pb2 as triggerer_service
from protos.triggerer.v1 import service_pb2_grpc as triggerer_grpc
from services.runtime.server import GrpcService
from services.state.servicers.api import ApiServicer
from services.state.servicers.dag_processor import DagProcessorServicer
from services.state.servicers.events import EventServicer
from services.state.servicers.executor import ExecutorServicer
from services.state.servicers.scheduler import SchedulerServicer
from services.state.servicers.task import TaskServicer
from services.state.servicers.triggerer import TriggererServicer
from services.state.services import StateServices


def grpc_services(services: StateServices) -> list[GrpcService]:
    """Every gRPC service the state service serves, bound to its dependencies."""

    def service(module: object, name: str) -> str:
        return str(module.DESCRIPTOR.services_by_name[name].full_name)  # type: ignore[attr-defined]

    api = ApiServicer(services)
    processor = DagProcessorServicer(services)
    scheduler = SchedulerServicer(services)
    executor = ExecutorServicer(services)
    task = TaskServicer(services)
    events = EventServicer(services)
    triggerer = TriggererServicer(services)
    return [
        GrpcService(
            service(api_service, "ApiService"),
            lambda server: api_grpc.add_ApiServiceServicer_to_server(api, server),
        ),
        GrpcService(
            service(processor_service, "DagProcessorService"),
            lambda server: processor_grpc.add_DagProcessorServiceServicer_to_server(
                processor, server
            ),
        ),
        GrpcService(
            service(scheduler_service, "SchedulerService"),
            lambda server: scheduler_grpc.add_SchedulerServiceServicer_to_server(scheduler, server),
        ),
        GrpcService(
            service(executor_service, "ExecutorService"),
            lambda server: executor_grpc.add_ExecutorServiceServicer_to_server(executor, server),
        ),
        GrpcService(
            service(task_service, "TaskService"),
            lambda server: task_grpc.add_TaskServiceServicer_to_server(task, server),
        ),
        GrpcService(
            service(triggerer_service, "TriggererService"),
            lambda server: triggerer_grpc.add_TriggererServiceServicer_to_server(triggerer, server),
        ),
        GrpcService(
            service(event_service, "EventService"),
            lambda server: event_grpc.add_EventServiceServicer_to_server(events, server),
        ),
    ]
