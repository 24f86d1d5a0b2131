"""Client methods for the catalog: DAGs, DAG files, import errors, variables, connections, pools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence

from google.protobuf.field_mask_pb2 import FieldMask

from protos.api.v1 import request_response_pb2 as rr
from protos.resource.v1 import message_pb2 as resource_pb2
from tradewind.client._base import PAGE_SIZE, ClientBase
from tradewind.client._models import (
    Connection,
    Dag,
    DagFile,
    DagImportError,
    DagWarning,
    Pool,
    Variable,
)


class CatalogMethods(ClientBase):
    """DAGs, DAG files, import errors, variables, connections and pools."""

    # ---- DAGs ----

    def dags(
        self,
        *,
        dag_id_contains: str = "",
        tags: Sequence[str] = (),
        paused: bool | None = None,
        include_inactive: bool = False,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Dag]:
        """Iterate over DAGs by id, across every page.

        Args:
            dag_id_contains: only DAGs whose id contains this (case-insensitive).
            tags: only DAGs carrying every one of these tags.
            paused: only paused (True) or unpaused (False) DAGs; None for both.
            include_inactive: also DAGs whose file disappeared.
            page_size: DAGs per request.

        Returns:
            An async iterator of :class:`Dag`.

        """
        request = rr.ListDagsRequest(
            page_size=page_size,
            dag_id_contains=dag_id_contains,
            tags=list(tags),
            include_inactive=include_inactive,
        )
        if paused is not None:
            request.paused = paused
        return self._pages(self._stub.ListDags, request, lambda r: r.dags, Dag.from_proto)

    async def get_dag(self, dag_id: str, *, include_tasks: bool = False) -> Dag:
        """Describe one DAG.

        Args:
            dag_id: the DAG.
            include_tasks: also return its tasks (``Dag.tasks``).

        Returns:
            The DAG.

        Raises:
            NotFoundError: no such DAG.

        """
        response = await self._call(
            self._stub.GetDag, rr.GetDagRequest(dag_id=dag_id, include_definition=include_tasks)
        )
        return Dag.from_proto(response.dag)

    async def pause_dag(self, dag_id: str) -> Dag:
        """Pause a DAG: no new runs, nothing of it queued. Pausing a paused DAG is a no-op.

        Args:
            dag_id: the DAG.

        Returns:
            The DAG after the change.

        Raises:
            NotFoundError: no such DAG.

        """
        response = await self._call(self._stub.PauseDag, rr.PauseDagRequest(dag_id=dag_id))
        return Dag.from_proto(response.dag)

    async def unpause_dag(self, dag_id: str) -> Dag:
        """Resume a paused DAG.

        Args:
            dag_id: the DAG.

        Returns:
            The DAG after the change.

        Raises:
            NotFoundError: no such DAG.

        """
        response = await self._call(self._stub.UnpauseDag, rr.UnpauseDagRequest(dag_id=dag_id))
        return Dag.from_proto(response.dag)

    async def delete_dag(self, dag_id: str, *, missing_ok: bool = False) -> int:
        """Delete a DAG's record and its whole history; it reappears if its file defines it.

        Args:
            dag_id: the DAG.
            missing_ok: succeed when it does not exist.

        Returns:
            How many runs were deleted with it.

        Raises:
            NotFoundError: no such DAG and not ``missing_ok``.

        """
        response = await self._call(
            self._stub.DeleteDag, rr.DeleteDagRequest(dag_id=dag_id, allow_missing=missing_ok)
        )
        return response.deleted_dag_runs

    # ---- DAG files and import errors ----

    def dag_files(self, *, page_size: int = PAGE_SIZE) -> AsyncIterator[DagFile]:
        """Iterate over the DAG files the processors know, by path.

        Args:
            page_size: files per request.

        Returns:
            An async iterator of :class:`DagFile`.

        """
        return self._pages(
            self._stub.ListDagFiles,
            rr.ListDagFilesRequest(page_size=page_size),
            lambda r: r.dag_files,
            DagFile.from_proto,
        )

    def import_errors(
        self, *, filename_contains: str = "", page_size: int = PAGE_SIZE
    ) -> AsyncIterator[DagImportError]:
        """Iterate over the DAG files that failed to import, by path.

        Args:
            filename_contains: only files whose path contains this.
            page_size: errors per request.

        Returns:
            An async iterator of :class:`DagImportError`.

        """
        return self._pages(
            self._stub.ListImportErrors,
            rr.ListImportErrorsRequest(page_size=page_size, filename_contains=filename_contains),
            lambda r: r.import_errors,
            DagImportError.from_proto,
        )

    def dag_warnings(
        self, dag_id: str = "", *, warning_type: str = "", page_size: int = PAGE_SIZE
    ) -> AsyncIterator[DagWarning]:
        """Iterate over DAG warnings (problems that are not import errors), by DAG and kind.

        Args:
            dag_id: only those of this DAG; empty for every DAG.
            warning_type: only those of this kind, e.g. "non-existent pool".
            page_size: warnings per request.

        Returns:
            An async iterator of :class:`DagWarning`.

        Raises:
            NotFoundError: no such DAG.

        """
        return self._pages(
            self._stub.ListDagWarnings,
            rr.ListDagWarningsRequest(
                page_size=page_size, dag_id=dag_id, warning_type=warning_type
            ),
            lambda r: r.dag_warnings,
            DagWarning.from_proto,
        )

    # ---- Variables ----

    def variables(
        self, *, key_contains: str = "", page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Variable]:
        """Iterate over variables by key.

        Args:
            key_contains: only variables whose key contains this (case-insensitive).
            page_size: variables per request.

        Returns:
            An async iterator of :class:`Variable`.

        """
        return self._pages(
            self._stub.ListVariables,
            rr.ListVariablesRequest(page_size=page_size, key_contains=key_contains),
            lambda r: r.variables,
            Variable.from_proto,
        )

    async def get_variable(self, key: str) -> Variable:
        """Read one variable.

        Args:
            key: its key.

        Returns:
            The variable.

        Raises:
            NotFoundError: no such variable.

        """
        response = await self._call(self._stub.GetVariable, rr.GetVariableRequest(key=key))
        return Variable.from_proto(response.variable)

    async def set_variable(self, key: str, value: str, *, description: str = "") -> Variable:
        """Create or replace a variable.

        Args:
            key: its key.
            value: its value.
            description: what it is for.

        Returns:
            The variable as stored.

        """
        variable = Variable(key=key, value=value, description=description)
        response = await self._call(
            self._stub.SetVariable, rr.SetVariableRequest(variable=variable.to_proto())
        )
        return Variable.from_proto(response.variable)

    async def delete_variable(self, key: str, *, missing_ok: bool = False) -> None:
        """Delete a variable.

        Args:
            key: its key.
            missing_ok: succeed when it does not exist.

        Raises:
            NotFoundError: no such variable and not ``missing_ok``.

        """
        await self._call(
            self._stub.DeleteVariable, rr.DeleteVariableRequest(key=key, allow_missing=missing_ok)
        )

    # ---- Connections ----

    def connections(
        self, *, conn_id_contains: str = "", page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Connection]:
        """Iterate over connections by id, secrets redacted.

        Args:
            conn_id_contains: only connections whose id contains this (case-insensitive).
            page_size: connections per request.

        Returns:
            An async iterator of :class:`Connection`.

        """
        return self._pages(
            self._stub.ListConnections,
            rr.ListConnectionsRequest(page_size=page_size, conn_id_contains=conn_id_contains),
            lambda r: r.connections,
            Connection.from_proto,
        )

    async def get_connection(self, conn_id: str, *, reveal_secrets: bool = False) -> Connection:
        """Read one connection.

        Args:
            conn_id: its id.
            reveal_secrets: return the password and extras in clear (with authentication on,
                only a service token may).

        Returns:
            The connection, redacted unless ``reveal_secrets``.

        Raises:
            NotFoundError: no such connection.
            PermissionDeniedError: the token may not reveal secrets.

        """
        response = await self._call(
            self._stub.GetConnection,
            rr.GetConnectionRequest(conn_id=conn_id, reveal_secrets=reveal_secrets),
        )
        return Connection.from_proto(response.connection)

    async def set_connection(
        self, connection: Connection, *, fields: Collection[str] | None = None
    ) -> Connection:
        """Create a connection, or replace some or all fields of an existing one.

        Args:
            connection: the connection.
            fields: the fields to replace when it exists (e.g. ``{"host", "port"}``); None
                replaces them all. Leave ``password`` and ``extra_json`` out to keep stored
                secrets when writing back a redacted connection.

        Returns:
            The connection as stored, redacted.

        Raises:
            InvalidArgumentError: an empty type, extras that are not a JSON object, a bad port.

        """
        mask = FieldMask(paths=sorted(fields)) if fields is not None else None
        response = await self._call(
            self._stub.SetConnection,
            rr.SetConnectionRequest(connection=connection.to_proto(), update_mask=mask),
        )
        return Connection.from_proto(response.connection)

    async def delete_connection(self, conn_id: str, *, missing_ok: bool = False) -> None:
        """Delete a connection.

        Args:
            conn_id: its id.
            missing_ok: succeed when it does not exist.

        Raises:
            NotFoundError: no such connection and not ``missing_ok``.

        """
        await self._call(
            self._stub.DeleteConnection,
            rr.DeleteConnectionRequest(conn_id=conn_id, allow_missing=missing_ok),
        )

    # ---- Pools ----

    def pools(self, *, name_contains: str = "", page_size: int = PAGE_SIZE) -> AsyncIterator[Pool]:
        """Iterate over pools by name, with their slot usage.

        Args:
            name_contains: only pools whose name contains this (case-insensitive).
            page_size: pools per request.

        Returns:
            An async iterator of :class:`Pool`.

        """
        return self._pages(
            self._stub.ListPools,
            rr.ListPoolsRequest(page_size=page_size, name_contains=name_contains),
            lambda r: r.pools,
            Pool.from_proto,
        )

    async def get_pool(self, name: str) -> Pool:
        """Describe one pool with its slot usage.

        Args:
            name: the pool.

        Returns:
            The pool.

        Raises:
            NotFoundError: no such pool.

        """
        response = await self._call(self._stub.GetPool, rr.GetPoolRequest(name=name))
        return Pool.from_proto(response.pool)

    async def set_pool(
        self, name: str, slots: int, *, description: str = "", include_deferred: bool = False
    ) -> Pool:
        """Create or resize a pool.

        Args:
            name: the pool.
            slots: its total slots; -1 for unlimited.
            description: what it is for.
            include_deferred: whether deferred task instances hold slots.

        Returns:
            The pool as stored.

        Raises:
            InvalidArgumentError: ``slots`` below -1.

        """
        pool = resource_pb2.Pool(
            name=name, slots=slots, description=description, include_deferred=include_deferred
        )
        response = await self._call(self._stub.SetPool, rr.SetPoolRequest(pool=pool))
        return Pool.from_proto(response.pool)

    async def delete_pool(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a pool.

        Args:
            name: the pool.
            missing_ok: succeed when it does not exist.

        Raises:
            NotFoundError: no such pool and not ``missing_ok``.
            FailedPreconditionError: ``default_pool``, or a pool that task instances use.

        """
        await self._call(
            self._stub.DeletePool, rr.DeletePoolRequest(name=name, allow_missing=missing_ok)
        )
