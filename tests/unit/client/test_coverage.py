"""Every RPC of the public API has a client method: a new RPC fails here until it gets one."""

from __future__ import annotations

from protos.api.v1 import service_pb2
from tradewind.client import Client

#: Each ApiService RPC and the client method that makes it.
METHODS = {
    "ListDags": "dags",
    "GetDag": "get_dag",
    "PauseDag": "pause_dag",
    "UnpauseDag": "unpause_dag",
    "DeleteDag": "delete_dag",
    "TriggerDagRun": "trigger",
    "ListDagRuns": "dag_runs",
    "GetDagRun": "get_dag_run",
    "SetDagRunState": "set_dag_run_state",
    "DeleteDagRun": "delete_dag_run",
    "ListTaskInstances": "task_instances",
    "GetTaskInstance": "get_task_instance",
    "ListTaskInstanceTries": "task_instance_tries",
    "ClearTaskInstances": "clear_task_instances",
    "SetTaskInstanceState": "set_task_instance_state",
    "GetTaskInstanceLogs": "get_task_logs",
    "WatchTaskInstanceLogs": "follow_logs",
    "ListXComs": "xcoms",
    "ListTaskState": "task_state",
    "ListVariables": "variables",
    "GetVariable": "get_variable",
    "SetVariable": "set_variable",
    "DeleteVariable": "delete_variable",
    "ListConnections": "connections",
    "GetConnection": "get_connection",
    "SetConnection": "set_connection",
    "DeleteConnection": "delete_connection",
    "ListPools": "pools",
    "GetPool": "get_pool",
    "SetPool": "set_pool",
    "DeletePool": "delete_pool",
    "ListDagFiles": "dag_files",
    "ListImportErrors": "import_errors",
    "ListDagWarnings": "dag_warnings",
    "ListAssets": "assets",
    "GetAsset": "get_asset",
    "ListAssetEvents": "asset_events",
    "CreateAssetEvent": "emit_asset_event",
    "ListQueuedAssetEvents": "queued_asset_events",
    "ListAssetState": "asset_state",
    "ClearAssetState": "clear_asset_state",
}


def test_every_rpc_has_a_documented_client_method() -> None:
    service = service_pb2.DESCRIPTOR.services_by_name["ApiService"]
    assert set(METHODS) == set(service.methods_by_name)
    for method in METHODS.values():
        assert (getattr(Client, method).__doc__ or "").strip(), method
