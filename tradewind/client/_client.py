"""The Tradewind client: typed, asyncio access to the state service's public API."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from tradewind.client._assets import AssetMethods
from tradewind.client._catalog import CatalogMethods
from tradewind.client._logs import LogMethods
from tradewind.client._waiting import WaitMethods
from tradewind_common.channels import ChannelConfig
from tradewind_common.secret_files import local_api_token
from tradewind_common.tls import ClientTLSConfig

#: Where a state service listens unless told otherwise.
DEFAULT_ADDRESS = "127.0.0.1:50051"
#: The deadline of each unary call.
DEFAULT_RPC_TIMEOUT_SECONDS = 30.0
#: How long opening the client waits for the service to answer.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0


class Client(CatalogMethods, AssetMethods, WaitMethods, LogMethods):
    """An asyncio client of the state service's public API (``tradewind.api.v1.ApiService``).

    Use it as an async context manager::

        async with Client("127.0.0.1:50051") as client:
            run = await client.trigger("example_etl", conf={"day": "2026-01-01"})
            run = await client.wait_for_run(run.dag_id, run.run_id, timeout=600)
            async for dag in client.dags():
                print(dag.dag_id)

    Calls spread over every replica (round-robin); read-only and idempotent calls are retried
    automatically while a replica is unavailable. Failures raise subclasses of
    :class:`TradewindClientError`.
    """

    def __init__(
        self,
        targets: str | Sequence[str] = DEFAULT_ADDRESS,
        *,
        token: str = "",
        tls: bool | ClientTLSConfig = False,
        rpc_timeout: float | None = DEFAULT_RPC_TIMEOUT_SECONDS,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        """Say how to reach the state service; entering the context connects.

        Args:
            targets: one ``host:port``, several (replicas), or a gRPC target URI such as
                ``dns:///state.tradewind:50051``.
            token: a bearer token sent with every call. Without one, a client of a loopback
                address sends the API token ``tradewind standalone`` generated into
                ``$TRADEWIND_HOME/auth/api-token``, if that file is there.
            tls: True for TLS with the system's roots, a :class:`ClientTLSConfig` for a CA or
                a client certificate, False for plain text.
            rpc_timeout: the deadline of each unary call, in seconds; None for none.
            connect_timeout: how long entering the context waits for the service, in seconds;
                None to connect on the first call instead.

        """
        addresses = (targets,) if isinstance(targets, str) else tuple(targets)
        config = ChannelConfig(
            targets=addresses,
            tls=ClientTLSConfig() if tls is True else tls or None,
            token=token or local_api_token(addresses),
        )
        super().__init__(config, rpc_timeout=rpc_timeout, connect_timeout=connect_timeout)

    @classmethod
    def from_config(
        cls,
        config: ChannelConfig,
        *,
        rpc_timeout: float | None = DEFAULT_RPC_TIMEOUT_SECONDS,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    ) -> Client:
        """A client for a :class:`ChannelConfig`, e.g. from ``ClientSettings.config(values)``.

        Args:
            config: the addresses, TLS and token.
            rpc_timeout: the deadline of each unary call, in seconds; None for none.
            connect_timeout: how long entering the context waits for the service, in seconds.

        Returns:
            The client, not yet open.

        """
        return cls(
            config.targets,
            token=config.token,
            tls=config.tls or False,
            rpc_timeout=rpc_timeout,
            connect_timeout=connect_timeout,
        )

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
