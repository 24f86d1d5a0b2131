"""TaskService: what running task processes may read and write, scoped to their try."""

from __future__ import annotations

from typing import Any

from grpc import aio

from protos.resource.v1 import message_pb2 as resource_pb2
from protos.task.v1 import request_response_pb2 as rr
from protos.task.v1 import service_pb2_grpc
from services.runtime.errors import NotFound
from services.state.clock import utcnow
from services.state.convert import connection_to_proto, variable_to_proto, xcom_to_proto
from services.state.servicers.caller import caller_lease
from services.state.servicers.task_asset_state import AssetStateMethods
from services.state.servicers.task_assets import AssetMethods
from services.state.servicers.task_cross_dag import CrossDagMethods
from services.state.servicers.task_state import TaskStateMethods
from services.state.services import StateServices
from services.state.store import execution, resources
from services.state.validation import identifier, json_value, optional_map_index

RETURN_VALUE = "return_value"


class TaskServicer(
    CrossDagMethods,
    TaskStateMethods,
    AssetMethods,
    AssetStateMethods,
    service_pb2_grpc.TaskServiceServicer,
):
    """XCom, variables and connections for task processes."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def GetXComs(
        self, request: rr.GetXComsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetXComsResponse:
        """XComs of tasks of the caller's run."""
        lease = caller_lease(request.caller, context)
        task_ids = list(request.task_ids)
        key = request.xcom_key or RETURN_VALUE
        map_index = optional_map_index(request, "map_index")
        now = utcnow()
        xcoms = await self._services.read(
            lambda s: [
                xcom_to_proto(x)
                for x in execution.get_xcoms(s, lease, task_ids, key, now, map_index=map_index)
            ],
            name="get_xcoms",
        )
        return rr.GetXComsResponse(xcoms=xcoms)

    async def PushXCom(
        self, request: rr.PushXComRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.PushXComResponse:
        """Store an XCom of the caller's task instance."""
        lease = caller_lease(request.caller, context)
        key = identifier(request.xcom_key or RETURN_VALUE, "xcom_key")
        json_value(request.value_json, "value_json")
        now = utcnow()
        await self._services.write(
            lambda s: execution.push_xcom(s, lease, key, request.value_json, now), name="push_xcom"
        )
        return rr.PushXComResponse()

    async def GetTaskVariable(
        self, request: rr.GetTaskVariableRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetTaskVariableResponse:
        """Read a variable."""
        lease = caller_lease(request.caller, context)
        key = identifier(request.key, "key")
        now = utcnow()

        def read(session: Any) -> resource_pb2.Variable | None:
            execution.verify_caller(session, lease, now)
            row = resources.find_variable(session, key)
            return variable_to_proto(row, self._services.secrets) if row is not None else None

        variable = await self._services.read(read, name="get_task_variable")
        if variable is None:
            return rr.GetTaskVariableResponse(found=False)
        return rr.GetTaskVariableResponse(found=True, variable=variable)

    async def SetTaskVariable(
        self, request: rr.SetTaskVariableRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetTaskVariableResponse:
        """Create or replace a variable."""
        lease = caller_lease(request.caller, context)
        identifier(request.variable.key, "variable.key")
        now = utcnow()

        def write(session: Any) -> None:
            execution.verify_caller(session, lease, now)
            variable = request.variable
            resources.upsert_variable(
                session, variable.key, variable.value, variable.description, self._services.secrets
            )

        await self._services.write(write, name="set_task_variable")
        return rr.SetTaskVariableResponse()

    async def DeleteTaskVariable(
        self, request: rr.DeleteTaskVariableRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteTaskVariableResponse:
        """Delete a variable."""
        lease = caller_lease(request.caller, context)
        key = identifier(request.key, "key")
        now = utcnow()

        def write(session: Any) -> bool:
            execution.verify_caller(session, lease, now)
            return resources.remove_variable(session, key)

        deleted = await self._services.write(write, name="delete_task_variable")
        return rr.DeleteTaskVariableResponse(deleted=deleted)

    async def GetTaskConnection(
        self, request: rr.GetTaskConnectionRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetTaskConnectionResponse:
        """Read a connection with its secrets."""
        lease = caller_lease(request.caller, context)
        conn_id = identifier(request.conn_id, "conn_id")
        now = utcnow()
        secrets = self._services.secrets

        def read(session: Any) -> resource_pb2.Connection | None:
            execution.verify_caller(session, lease, now)
            row = resources.find_connection(session, conn_id)
            return connection_to_proto(row, secrets) if row is not None else None

        connection = await self._services.read(read, name="get_task_connection")
        if connection is None:
            raise NotFound("connection", conn_id)
        return rr.GetTaskConnectionResponse(connection=connection)
