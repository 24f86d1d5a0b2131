"""ApiService, the catalog half: DAGs, DAG files, import errors, variables, connections, pools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from grpc import aio

from protos.api.v1 import request_response_pb2 as rr
from protos.dag.v1 import message_pb2 as dag_pb2
from protos.resource.v1 import message_pb2 as resource_pb2
from services.runtime.auth import Role, role_of
from services.runtime.errors import InvalidArgument, NotFound, PermissionDenied
from services.runtime.interceptors import call_credentials
from services.state.clock import utcnow
from services.state.convert import (
    connection_to_proto,
    connection_values,
    dag_file_view_to_proto,
    dag_view_to_proto,
    dag_warning_to_proto,
    import_error_to_proto,
    pool_to_proto,
    variable_to_proto,
)
from services.state.services import StateServices
from services.state.store import catalog, resources, warnings
from services.state.store.catalog import DagFilter
from services.state.store.pools import UNLIMITED_SLOTS
from services.state.validation import identifier, optional_identifier


def connection_fields(paths: Sequence[str]) -> frozenset[str]:
    """The fields an update mask replaces; every field for an empty mask.

    Raises:
        InvalidArgument: a path that names no replaceable field.

    """
    if not paths:
        return resources.CONNECTION_FIELDS
    for path in paths:
        if path not in resources.CONNECTION_FIELDS:
            raise InvalidArgument(
                "update_mask",
                f"names {path!r}, which is not a replaceable connection field; use some of"
                f" {', '.join(sorted(resources.CONNECTION_FIELDS))}",
            )
    return frozenset(paths)


class CatalogApi:
    """The catalog RPCs of ApiService (mixed into ApiServicer)."""

    _services: StateServices

    # ---- DAGs ----

    async def ListDags(
        self, request: rr.ListDagsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListDagsResponse:
        """List DAGs by id, filtered by id substring, tags, paused state and activity."""
        dag_filter = DagFilter(
            dag_id_contains=request.dag_id_contains,
            tags=tuple(sorted(set(request.tags))),
            paused=request.paused if request.HasField("paused") else None,
            include_inactive=request.include_inactive,
        )
        page = self._services.pages.request(
            "ListDags", request.page_size, request.page_token, asdict(dag_filter)
        )
        found = await self._services.read(
            lambda s: catalog.list_dags(s, dag_filter, page).map(dag_view_to_proto),
            name="list_dags",
        )
        return rr.ListDagsResponse(dags=found.items, **self._services.pages.fields(found))

    async def GetDag(
        self, request: rr.GetDagRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetDagResponse:
        """Describe one DAG, with its tasks and edges when asked. NOT_FOUND when unknown."""
        dag_id = identifier(request.dag_id, "dag_id")
        include = request.include_definition
        view = await self._services.read(lambda s: catalog.get_dag(s, dag_id), name="get_dag")
        if view is None:
            raise NotFound("dag", dag_id)
        return rr.GetDagResponse(dag=dag_view_to_proto(view, include_definition=include))

    async def PauseDag(
        self, request: rr.PauseDagRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.PauseDagResponse:
        """Pause a DAG; pausing a paused DAG changes nothing. NOT_FOUND when unknown."""
        return rr.PauseDagResponse(dag=await self._set_paused(request.dag_id, paused=True))

    async def UnpauseDag(
        self, request: rr.UnpauseDagRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.UnpauseDagResponse:
        """Unpause a DAG; unpausing an unpaused DAG changes nothing. NOT_FOUND when unknown."""
        return rr.UnpauseDagResponse(dag=await self._set_paused(request.dag_id, paused=False))

    async def _set_paused(self, requested_id: str, *, paused: bool) -> dag_pb2.Dag:
        dag_id = identifier(requested_id, "dag_id")
        now = utcnow()
        view = await self._services.write(
            lambda s: catalog.set_dag_paused(s, dag_id, paused, now), name="set_dag_paused"
        )
        if view is None:
            raise NotFound("dag", dag_id)
        return dag_view_to_proto(view)

    async def DeleteDag(
        self, request: rr.DeleteDagRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteDagResponse:
        """Delete a DAG with its whole history. NOT_FOUND when unknown, unless allow_missing."""
        dag_id = identifier(request.dag_id, "dag_id")
        runs = await self._services.write(
            lambda s: catalog.delete_dag(s, dag_id), name="delete_dag"
        )
        if runs is None and not request.allow_missing:
            raise NotFound("dag", dag_id)
        return rr.DeleteDagResponse(deleted_dag_runs=runs or 0)

    # ---- DAG files and import errors ----

    async def ListDagFiles(
        self, request: rr.ListDagFilesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListDagFilesResponse:
        """List the DAG files the processors know, by relative path."""
        page = self._services.pages.request("ListDagFiles", request.page_size, request.page_token)
        found = await self._services.read(
            lambda s: catalog.list_dag_files(s, page).map(dag_file_view_to_proto),
            name="list_dag_files",
        )
        return rr.ListDagFilesResponse(dag_files=found.items, **self._services.pages.fields(found))

    async def ListImportErrors(
        self, request: rr.ListImportErrorsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListImportErrorsResponse:
        """List the files that failed to import, by relative path."""
        contains = request.filename_contains
        page = self._services.pages.request(
            "ListImportErrors",
            request.page_size,
            request.page_token,
            {"filename_contains": contains},
        )
        found = await self._services.read(
            lambda s: catalog.list_import_errors(s, contains, page).map(import_error_to_proto),
            name="list_import_errors",
        )
        return rr.ListImportErrorsResponse(
            import_errors=found.items, **self._services.pages.fields(found)
        )

    async def ListDagWarnings(
        self, request: rr.ListDagWarningsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListDagWarningsResponse:
        """List the DAG warnings, by DAG id then kind. NOT_FOUND for an unknown dag_id."""
        dag_id = optional_identifier(request.dag_id, "dag_id")
        kind = request.warning_type
        page = self._services.pages.request(
            "ListDagWarnings",
            request.page_size,
            request.page_token,
            {"dag_id": dag_id, "warning_type": kind},
        )
        found = await self._services.read(
            lambda s: warnings.list_dag_warnings(s, dag_id, kind, page).map(dag_warning_to_proto),
            name="list_dag_warnings",
        )
        return rr.ListDagWarningsResponse(
            dag_warnings=found.items, **self._services.pages.fields(found)
        )

    # ---- Variables ----

    async def ListVariables(
        self, request: rr.ListVariablesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListVariablesResponse:
        """List variables by key, filtered by key substring."""
        contains = request.key_contains
        page = self._services.pages.request(
            "ListVariables", request.page_size, request.page_token, {"key_contains": contains}
        )
        found = await self._services.read(
            lambda s: resources.list_variables(s, contains, page).map(
                lambda row: variable_to_proto(row, self._services.secrets)
            ),
            name="list_variables",
        )
        return rr.ListVariablesResponse(variables=found.items, **self._services.pages.fields(found))

    async def GetVariable(
        self, request: rr.GetVariableRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetVariableResponse:
        """Read one variable. NOT_FOUND when unknown."""
        key = identifier(request.key, "key")
        secrets = self._services.secrets

        def read(session: Any) -> resource_pb2.Variable | None:
            row = resources.find_variable(session, key)
            return variable_to_proto(row, secrets) if row is not None else None

        variable = await self._services.read(read, name="get_variable")
        if variable is None:
            raise NotFound("variable", key)
        return rr.GetVariableResponse(variable=variable)

    async def SetVariable(
        self, request: rr.SetVariableRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetVariableResponse:
        """Create or replace a variable. INVALID_ARGUMENT for an empty key."""
        variable = request.variable
        key = identifier(variable.key, "variable.key")
        stored = await self._services.write(
            lambda s: variable_to_proto(
                resources.upsert_variable(
                    s, key, variable.value, variable.description, self._services.secrets
                ),
                self._services.secrets,
            ),
            name="set_variable",
        )
        return rr.SetVariableResponse(variable=stored)

    async def DeleteVariable(
        self, request: rr.DeleteVariableRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteVariableResponse:
        """Delete a variable. NOT_FOUND when unknown, unless allow_missing."""
        key = identifier(request.key, "key")
        deleted = await self._services.write(
            lambda s: resources.remove_variable(s, key), name="delete_variable"
        )
        if not deleted and not request.allow_missing:
            raise NotFound("variable", key)
        return rr.DeleteVariableResponse()

    # ---- Connections ----

    async def ListConnections(
        self, request: rr.ListConnectionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListConnectionsResponse:
        """List connections by id, filtered by id substring, secrets redacted."""
        contains = request.conn_id_contains
        page = self._services.pages.request(
            "ListConnections",
            request.page_size,
            request.page_token,
            {"conn_id_contains": contains},
        )
        found = await self._services.read(
            lambda s: resources.list_connections(s, contains, page).map(connection_to_proto),
            name="list_connections",
        )
        return rr.ListConnectionsResponse(
            connections=found.items, **self._services.pages.fields(found)
        )

    async def GetConnection(
        self, request: rr.GetConnectionRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetConnectionResponse:
        """Read one connection, redacted unless reveal_secrets.

        With authentication on, only a service token may reveal secrets (PERMISSION_DENIED
        otherwise). NOT_FOUND when unknown.
        """
        conn_id = identifier(request.conn_id, "conn_id")
        if request.reveal_secrets and not self._may_reveal_secrets(context):
            raise PermissionDenied(
                "revealing connection secrets needs a service token; call without"
                " reveal_secrets for the redacted connection"
            )
        secrets = self._services.secrets if request.reveal_secrets else None

        def read(session: Any) -> resource_pb2.Connection | None:
            row = resources.find_connection(session, conn_id)
            return connection_to_proto(row, secrets) if row is not None else None

        connection = await self._services.read(read, name="get_connection")
        if connection is None:
            raise NotFound("connection", conn_id)
        return rr.GetConnectionResponse(connection=connection)

    def _may_reveal_secrets(self, context: aio.ServicerContext[Any, Any]) -> bool:
        auth = self._services.auth
        if not auth.enabled:
            return True
        return role_of(call_credentials(context), auth) is Role.SERVICE

    async def SetConnection(
        self, request: rr.SetConnectionRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetConnectionResponse:
        """Create a connection, or replace the fields named by update_mask (all when empty).

        The password and extras are encrypted at rest; the response is redacted.
        INVALID_ARGUMENT for an empty id or type, extras that are not a JSON object, or a
        mask naming an unknown field.
        """
        connection = request.connection
        identifier(connection.conn_id, "connection.conn_id")
        values = connection_values(connection)
        fields = connection_fields(list(request.update_mask.paths))
        secrets = self._services.secrets
        stored = await self._services.write(
            lambda s: connection_to_proto(resources.upsert_connection(s, values, fields, secrets)),
            name="set_connection",
        )
        return rr.SetConnectionResponse(connection=stored)

    async def DeleteConnection(
        self, request: rr.DeleteConnectionRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeleteConnectionResponse:
        """Delete a connection. NOT_FOUND when unknown, unless allow_missing."""
        conn_id = identifier(request.conn_id, "conn_id")
        deleted = await self._services.write(
            lambda s: resources.remove_connection(s, conn_id), name="delete_connection"
        )
        if not deleted and not request.allow_missing:
            raise NotFound("connection", conn_id)
        return rr.DeleteConnectionResponse()

    # ---- Pools ----

    async def ListPools(
        self, request: rr.ListPoolsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListPoolsResponse:
        """List pools by name with their slot usage, filtered by name substring."""
        contains = request.name_contains
        page = self._services.pages.request(
            "ListPools", request.page_size, request.page_token, {"name_contains": contains}
        )
        found = await self._services.read(
            lambda s: resources.list_pools(s, contains, page).map(pool_to_proto), name="list_pools"
        )
        return rr.ListPoolsResponse(pools=found.items, **self._services.pages.fields(found))

    async def GetPool(
        self, request: rr.GetPoolRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.GetPoolResponse:
        """Describe one pool with its slot usage. NOT_FOUND when unknown."""
        name = identifier(request.name, "name")
        pool = await self._services.read(lambda s: resources.find_pool(s, name), name="get_pool")
        if pool is None:
            raise NotFound("pool", name)
        return rr.GetPoolResponse(pool=pool_to_proto(pool))

    async def SetPool(
        self, request: rr.SetPoolRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SetPoolResponse:
        """Create or resize a pool. INVALID_ARGUMENT for slots below -1."""
        pool = request.pool
        identifier(pool.name, "pool.name")
        if pool.slots < UNLIMITED_SLOTS:
            raise InvalidArgument("pool.slots", "must be -1 (unlimited) or at least 0")
        stored = await self._services.write(
            lambda s: resources.upsert_pool(
                s,
                pool.name,
                slots=pool.slots,
                description=pool.description,
                include_deferred=pool.include_deferred,
            ),
            name="set_pool",
        )
        return rr.SetPoolResponse(pool=pool_to_proto(stored))

    async def DeletePool(
        self, request: rr.DeletePoolRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.DeletePoolResponse:
        """Delete a pool. NOT_FOUND when unknown, unless allow_missing.

        FAILED_PRECONDITION for default_pool, or a pool whose slots queued or running task
        instances hold.
        """
        name = identifier(request.name, "name")
        deleted = await self._services.write(
            lambda s: resources.remove_pool(s, name), name="delete_pool"
        )
        if not deleted and not request.allow_missing:
            raise NotFound("pool", name)
        return rr.DeletePoolResponse()
