"""TaskService, the task state store half: a task instance's own keys, across its tries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grpc import aio

from protos.run.v1 import message_pb2 as run_pb2
from protos.task.v1 import request_response_pb2 as rr
from services.runtime.errors import InvalidArgument
from services.state.clock import utcnow
from services.state.servicers.caller import caller_lease
from services.state.services import StateServices
from services.state.store import task_state
from services.state.store.execution import TryLease
from services.state.validation import identifier, json_value


class TaskStateMethods:
    """GetTaskState, SetTaskState, DeleteTaskState and ClearTaskState (mixed into TaskServicer)."""

    _services: StateServices

    async def GetTaskState(
        self, request: rr.GetTaskStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetTaskStateResponse:
        """Read a key of the caller's task state store."""
        lease = self._lease(request.caller, context)
        key = identifier(request.key, "key")
        now = utcnow()
        value = await self._services.read(
            lambda s: _value_of(task_state.get_task_state(s, lease, key, now)),
            name="get_task_state",
        )
        if value is None:
            return rr.GetTaskStateResponse(found=False)
        return rr.GetTaskStateResponse(found=True, value_json=value)

    async def SetTaskState(
        self, request: rr.SetTaskStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetTaskStateResponse:
        """Write a key of the caller's task state store."""
        lease = self._lease(request.caller, context)
        key = identifier(request.key, "key")
        if json_value(request.value_json, "value_json") is None:
            raise InvalidArgument("value_json", "must not be null; delete the key instead")
        retention = None
        if request.HasField("retention"):
            if request.never_expire:
                raise InvalidArgument("retention", "must be unset when never_expire is set")
            retention = request.retention.ToTimedelta()
            if retention <= timedelta(0):
                raise InvalidArgument("retention", "must be a positive duration")
        now = utcnow()
        default = self._services.task_state_retention
        expires_at = task_state.expiry(
            now,
            retention,
            never_expire=request.never_expire,
            default=timedelta(seconds=default) if default else None,
        )
        await self._services.write(
            lambda s: task_state.set_task_state(s, lease, key, request.value_json, expires_at, now),
            name="set_task_state",
        )
        return rr.SetTaskStateResponse()

    async def DeleteTaskState(
        self, request: rr.DeleteTaskStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteTaskStateResponse:
        """Delete a key of the caller's task state store."""
        lease = self._lease(request.caller, context)
        key = identifier(request.key, "key")
        now = utcnow()
        deleted = await self._services.write(
            lambda s: task_state.delete_task_state(s, lease, key, now), name="delete_task_state"
        )
        return rr.DeleteTaskStateResponse(deleted=deleted)

    async def ClearTaskState(
        self, request: rr.ClearTaskStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ClearTaskStateResponse:
        """Delete every key of the caller's task state store."""
        lease = self._lease(request.caller, context)
        now = utcnow()
        deleted = await self._services.write(
            lambda s: task_state.clear_task_state(s, lease, now), name="clear_task_state"
        )
        return rr.ClearTaskStateResponse(deleted=deleted)

    def _lease(self, caller: run_pb2.TryLease, context: aio.ServicerContext[Any, Any]) -> TryLease:
        return caller_lease(caller, context)


def _value_of(row: Any) -> str | None:
    return row.value_json if row is not None else None
