"""The client's core: the channel, one wrapper for every unary call, and paging.

Every unary RPC goes through :meth:`ClientBase._call`, so every failure becomes a typed
exception in one place (:func:`tradewind.client._errors.error_from_rpc`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol, TypeVar

import grpc
from grpc import aio

from protos.api.v1 import service_pb2 as api_service
from protos.api.v1 import service_pb2_grpc as api_grpc
from protos.run.v1 import message_pb2 as run_pb2
from tradewind.client._errors import UnavailableError, cannot_reach, error_from_rpc
from tradewind_common.channels import ChannelConfig, create_channel

#: The service the client calls; its idempotent RPCs are retried on UNAVAILABLE.
API_SERVICE = api_service.DESCRIPTOR.services_by_name["ApiService"]
#: How many items a listing asks for per page (the server's maximum is 1000).
PAGE_SIZE = 500


class _PagedRequest(Protocol):
    page_token: str


class _PagedResponse(Protocol):
    @property
    def next_page_token(self) -> str: ...


Req = TypeVar("Req")
Resp = TypeVar("Resp")
PagedReq = TypeVar("PagedReq", bound=_PagedRequest)
PagedResp = TypeVar("PagedResp", bound=_PagedResponse)
Item = TypeVar("Item")
Out = TypeVar("Out")


class ClientBase:
    """A channel to the state service's public API, with typed error mapping."""

    def __init__(
        self,
        config: ChannelConfig,
        *,
        rpc_timeout: float | None,
        connect_timeout: float | None,
    ) -> None:
        """Remember how to reach the service; :meth:`open` connects.

        Args:
            config: the addresses, TLS and token.
            rpc_timeout: the deadline of each unary call in seconds; None for none.
            connect_timeout: how long :meth:`open` waits for a connection in seconds; None to
                connect lazily on the first call.

        """
        self._config = config
        self._rpc_timeout = rpc_timeout
        self._connect_timeout = connect_timeout
        self._channel: aio.Channel | None = None
        self._api: api_grpc.ApiServiceAsyncStub | None = None
        #: Where the client reaches the service, for error messages.
        self.address = ", ".join(config.targets)

    async def open(self) -> None:
        """Open the channel and, with a connect timeout, wait until the service answers.

        Raises:
            UnavailableError: nothing answered at the address within the connect timeout,
                or every address refused the connection.
            ConfigError: a malformed address or an unreadable TLS file.

        """
        if self._channel is not None:
            return
        channel = create_channel(self._config, [API_SERVICE])
        try:
            if self._connect_timeout is not None and not await _connected(
                channel, self._connect_timeout
            ):
                raise UnavailableError(cannot_reach(self.address), address=self.address)
        except BaseException:
            await channel.close(None)
            raise
        self._channel = channel
        self._api = api_grpc.ApiServiceStub(channel)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        channel, self._channel, self._api = self._channel, None, None
        if channel is not None:
            await channel.close(None)

    @property
    def _stub(self) -> api_grpc.ApiServiceAsyncStub:
        if self._api is None:
            raise RuntimeError("the client is not open: use `async with Client(...) as client`")
        return self._api

    async def _call(self, method: aio.UnaryUnaryMultiCallable[Req, Resp], request: Req) -> Resp:
        """Make one unary call under the RPC deadline, raising typed errors."""
        try:
            return await method(request, timeout=self._rpc_timeout)
        except aio.AioRpcError as err:
            raise error_from_rpc(err, address=self.address) from err

    async def _pages(
        self,
        method: aio.UnaryUnaryMultiCallable[PagedReq, PagedResp],
        request: PagedReq,
        items: Callable[[PagedResp], Iterable[Item]],
        convert: Callable[[Item], Out],
    ) -> AsyncIterator[Out]:
        """Yield every item of a listing, following ``next_page_token`` to the last page."""
        while True:
            response = await self._call(method, request)
            for item in items(response):
                yield convert(item)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token


async def _connected(channel: aio.Channel, seconds: float) -> bool:
    """Wait until ``channel`` is READY; False once it fails to connect or ``seconds`` pass."""
    failed = (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN)
    try:
        async with asyncio.timeout(seconds):
            state = channel.get_state(try_to_connect=True)
            while state is not grpc.ChannelConnectivity.READY:
                if state in failed:
                    return False
                await channel.wait_for_state_change(state)
                state = channel.get_state(try_to_connect=True)
    except TimeoutError:
        return False
    return True


def ti_key(
    dag_id: str, run_id: str, task_id: str, map_index: int | None = None
) -> run_pb2.TaskInstanceKey:
    """The contract's key of one task instance (``map_index`` None or -1: not mapped)."""
    return run_pb2.TaskInstanceKey(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index if map_index is not None and map_index >= 0 else None,
    )
