"""The task runtime over gRPC: XCom, variables and connections for code in a task process.

Task code calls these synchronously (``Variable.get`` is a plain function in Airflow), so this
bridge uses a blocking channel; it runs only inside a task process, never in a service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.resource.v1 import message_pb2 as resource_pb2
from protos.run.v1 import message_pb2 as run_pb2
from protos.task.v1 import request_response_pb2 as rr
from protos.task.v1 import service_pb2 as task_service
from protos.task.v1 import service_pb2_grpc as task_grpc
from services.runtime.auth import lease_header
from tradewind.sdk.asset_events import AssetEventQuery, AssetEventResult, event_from_message
from tradewind.sdk.asset_state import asset_state_errors
from tradewind.sdk.assets import Asset, AssetNameRef, AssetUriRef, asset_from_message
from tradewind.sdk.connection import Connection
from tradewind.sdk.exceptions import ConnectionNotFound, DagRunAlreadyExists, TradewindException
from tradewind.sdk.other_dags import StateQuery, TriggeredRun, query_message
from tradewind_common.channels import ChannelConfig, create_blocking_channel

#: Seconds a task waits for one answer of the state service.
CALL_TIMEOUT = 30.0


class GrpcTaskRuntime:
    """A :class:`tradewind.sdk.runtime.TaskRuntime` that talks to the state service.

    Every call presents the try's lease as its credential (``authorization: Lease <id>``): a
    task process holds no token, so TaskService is all it can reach.
    """

    def __init__(self, channel_config: ChannelConfig, lease: run_pb2.TryLease) -> None:
        self._channel_config = channel_config
        self._channel: grpc.Channel | None = None
        self._opened: task_grpc.TaskServiceStub | None = None
        self._lease = lease
        self._metadata = (lease_header(lease.lease_id),)

    @property
    def _stub(self) -> task_grpc.TaskServiceStub:
        # Most tasks never call the state service (their return value travels with the
        # result), so the channel is opened on first use, not for every try.
        if self._opened is None:
            self._channel = create_blocking_channel(
                self._channel_config, [task_service.DESCRIPTOR.services_by_name["TaskService"]]
            )
            self._opened = task_grpc.TaskServiceStub(self._channel)
        return self._opened

    def close(self) -> None:
        """Close the channel, if one was opened."""
        if self._channel is not None:
            self._channel.close()
        self._channel = self._opened = None

    def get_xcoms(self, task_ids: Sequence[str], key: str) -> dict[str, Any]:
        """XComs of tasks of the caller's run."""
        response = self._stub.GetXComs(
            rr.GetXComsRequest(caller=self._lease, task_ids=list(task_ids), xcom_key=key),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return {
            x.key.task_id: json.loads(x.value_json)
            for x in response.xcoms
            if not x.key.HasField("map_index")
        }

    def get_xcom_items(
        self, task_ids: Sequence[str], key: str, *, map_index: int | None = None
    ) -> dict[str, list[tuple[int, Any]]]:
        """XComs of every instance of tasks of the caller's run, in map index order."""
        request = rr.GetXComsRequest(caller=self._lease, task_ids=list(task_ids), xcom_key=key)
        if map_index is not None:
            request.map_index = map_index
        response = self._stub.GetXComs(request, timeout=CALL_TIMEOUT, metadata=self._metadata)
        found: dict[str, list[tuple[int, Any]]] = {}
        for xcom in response.xcoms:
            index = xcom.key.map_index if xcom.key.HasField("map_index") else -1
            found.setdefault(xcom.key.task_id, []).append((index, json.loads(xcom.value_json)))
        return found

    def push_xcom(self, key: str, value: Any) -> None:
        """Store an XCom of the calling task instance."""
        self._stub.PushXCom(
            rr.PushXComRequest(caller=self._lease, xcom_key=key, value_json=json.dumps(value)),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )

    def get_task_state(self, key: str) -> str | None:
        """A key of the calling task instance's task state store, as JSON, or None."""
        response = self._stub.GetTaskState(
            rr.GetTaskStateRequest(caller=self._lease, key=key),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return response.value_json if response.found else None

    def set_task_state(
        self, key: str, value_json: str, *, retention: timedelta | None, never_expire: bool
    ) -> None:
        """Write a key of the calling task instance's task state store."""
        request = rr.SetTaskStateRequest(
            caller=self._lease, key=key, value_json=value_json, never_expire=never_expire
        )
        if retention is not None:
            request.retention.FromTimedelta(retention)
        self._stub.SetTaskState(request, timeout=CALL_TIMEOUT, metadata=self._metadata)

    def delete_task_state(self, key: str) -> bool:
        """Delete a key of the calling task instance's task state store."""
        response = self._stub.DeleteTaskState(
            rr.DeleteTaskStateRequest(caller=self._lease, key=key),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return response.deleted

    def clear_task_state(self) -> int:
        """Delete every key of the calling task instance's task state store."""
        response = self._stub.ClearTaskState(
            rr.ClearTaskStateRequest(caller=self._lease),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return response.deleted

    def get_variable(self, key: str) -> str | None:
        """A variable's text, or None."""
        response = self._stub.GetTaskVariable(
            rr.GetTaskVariableRequest(caller=self._lease, key=key),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return response.variable.value if response.found else None

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        """Create or replace a variable."""
        self._stub.SetTaskVariable(
            rr.SetTaskVariableRequest(
                caller=self._lease,
                variable=resource_pb2.Variable(key=key, value=value, description=description or ""),
            ),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )

    def delete_variable(self, key: str) -> None:
        """Delete a variable."""
        self._stub.DeleteTaskVariable(
            rr.DeleteTaskVariableRequest(caller=self._lease, key=key),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )

    def get_connection(self, conn_id: str) -> Connection:
        """A connection with its secrets."""
        try:
            response = self._stub.GetTaskConnection(
                rr.GetTaskConnectionRequest(caller=self._lease, conn_id=conn_id),
                timeout=CALL_TIMEOUT,
                metadata=self._metadata,
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise ConnectionNotFound(f"connection {conn_id!r} is not defined") from err
            raise
        found = response.connection
        return Connection(
            conn_id=found.conn_id,
            conn_type=found.conn_type,
            description=found.description or None,
            host=found.host or None,
            login=found.login or None,
            password=found.password or None,
            schema=found.schema or None,
            port=found.port if found.HasField("port") else None,
            extra=found.extra_json or None,
        )

    def list_asset_events(self, query: AssetEventQuery) -> list[AssetEventResult]:
        """Events of an asset or alias, for ``inlet_events``."""
        request = rr.ListTaskAssetEventsRequest(
            caller=self._lease, descending=not query.ascending, limit=query.limit or 0
        )
        if query.asset is not None:
            request.asset.CopyFrom(dag_pb2.Asset(name=query.asset.name, uri=query.asset.uri))
        else:
            request.alias_name = query.alias_name or ""
        if query.after is not None:
            request.after.FromDatetime(query.after.astimezone(UTC))
        if query.before is not None:
            request.before.FromDatetime(query.before.astimezone(UTC))
        response = self._stub.ListTaskAssetEvents(
            request, timeout=CALL_TIMEOUT, metadata=self._metadata
        )
        return [event_from_message(e) for e in response.asset_events]

    def triggering_asset_events(self) -> list[AssetEventResult]:
        """The events that triggered the caller's run."""
        response = self._stub.GetTriggeringAssetEvents(
            rr.GetTriggeringAssetEventsRequest(caller=self._lease),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return [event_from_message(e) for e in response.asset_events]

    def resolve_asset(self, ref: AssetNameRef | AssetUriRef) -> Asset:
        """The asset a reference names; KeyError when none does."""
        reference = _reference(ref)
        try:
            response = self._stub.ResolveAsset(
                rr.ResolveAssetRequest(caller=self._lease, reference=reference),
                timeout=CALL_TIMEOUT,
                metadata=self._metadata,
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise KeyError(ref) from err
            raise
        return asset_from_message(response.asset)

    def _asset_call(self, method: Any, request: Any, ref: AssetNameRef | AssetUriRef) -> Any:
        with asset_state_errors(ref):
            return method(request, timeout=CALL_TIMEOUT, metadata=self._metadata)

    def get_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> str | None:
        """A key of an asset's state store, as JSON, or None."""
        request = rr.GetAssetStateRequest(caller=self._lease, asset=_reference(ref), key=key)
        response = self._asset_call(self._stub.GetAssetState, request, ref)
        return response.value_json if response.found else None

    def set_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str, value_json: str) -> None:
        """Write a key of an asset's state store."""
        request = rr.SetAssetStateRequest(
            caller=self._lease, asset=_reference(ref), key=key, value_json=value_json
        )
        self._asset_call(self._stub.SetAssetState, request, ref)

    def delete_asset_state(self, ref: AssetNameRef | AssetUriRef, key: str) -> bool:
        """Delete a key of an asset's state store."""
        request = rr.DeleteAssetStateRequest(caller=self._lease, asset=_reference(ref), key=key)
        return bool(self._asset_call(self._stub.DeleteAssetState, request, ref).deleted)

    def clear_asset_state(self, ref: AssetNameRef | AssetUriRef) -> int:
        """Delete every key of an asset's state store."""
        request = rr.ClearAssetStateRequest(caller=self._lease, asset=_reference(ref))
        return int(self._asset_call(self._stub.ClearAssetState, request, ref).deleted)

    def count_states(self, query: StateQuery) -> int:
        """How many of another DAG's runs or task instances match ``query``."""
        response = self._stub.CountTaskStates(
            rr.CountTaskStatesRequest(caller=self._lease, query=query_message(query)),
            timeout=CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return int(response.count)

    def trigger_dag_run(
        self,
        dag_id: str,
        *,
        run_id: str,
        logical_date: datetime | None,
        conf: Mapping[str, Any],
        reset_dag_run: bool,
    ) -> TriggeredRun:
        """Trigger a run of another DAG, or clear it with ``reset_dag_run``."""
        request = rr.TriggerDagRunFromTaskRequest(
            caller=self._lease,
            dag_id=dag_id,
            run_id=run_id,
            conf_json=json.dumps(dict(conf)) if conf else "",
            reset_dag_run=reset_dag_run,
        )
        if logical_date is not None:
            request.logical_date.FromDatetime(logical_date)
        try:
            response = self._stub.TriggerDagRunFromTask(
                request, timeout=CALL_TIMEOUT, metadata=self._metadata
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.ALREADY_EXISTS:
                raise DagRunAlreadyExists(
                    f"A run with run_id {run_id!r} of DAG {dag_id!r} already exists",
                    dag_id=dag_id,
                    run_id=run_id,
                ) from err
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise TradewindException(f"cannot trigger DAG {dag_id!r}: {err.details()}") from err
            raise
        run = response.dag_run
        return TriggeredRun(
            dag_id=run.dag_id,
            run_id=run.run_id,
            logical_date=(
                run.logical_date.ToDatetime(tzinfo=UTC) if run.HasField("logical_date") else None
            ),
            already_existed=response.already_existed,
        )


def _reference(ref: AssetNameRef | AssetUriRef) -> dag_pb2.AssetReference:
    if isinstance(ref, AssetNameRef):
        return dag_pb2.AssetReference(name=ref.name)
    return dag_pb2.AssetReference(uri=ref.uri)
