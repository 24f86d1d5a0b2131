"""Server interceptors every service installs, outermost first.

1. :class:`ObservabilityInterceptor`: per-RPC Prometheus metrics and one structured log line.
2. :class:`AuthInterceptor`: credential checks (see :mod:`services.runtime.auth`).
3. :class:`ErrorInterceptor`: turns :class:`ServiceError` into its status code and typed detail,
   and any other exception into INTERNAL with a pointer to the server log.

Streaming handlers may be async generators or coroutines that call ``context.write``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc import aio
from grpc_status import rpc_status

from services.runtime.auth import (
    AuthConfig,
    AuthDecision,
    Credentials,
    authorize,
    credentials_of,
    refusal_message,
)
from services.runtime.errors import InvalidArgument, PermissionDenied, ServiceError, Unauthenticated
from services.runtime.metrics import RPC_HANDLED, RPC_SECONDS, RPC_STARTED

logger = logging.getLogger("tradewind.rpc")

if TYPE_CHECKING:  # grpc-stubs makes these generic; at run time they are plain classes
    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = aio.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = aio.ServerInterceptor
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]
#: Runs the wrapped behaviour once; the wrapper decides what happens around it.
UnaryAround = Callable[
    [Callable[[], Awaitable[Any]], aio.ServicerContext[Any, Any]], Awaitable[Any]
]
StreamAround = Callable[
    [Callable[[], AsyncIterator[Any]], aio.ServicerContext[Any, Any]], AsyncIterator[Any]
]


def rpc_type(handler: Handler) -> str:
    """Return the RPC's kind with the labels go-grpc-prometheus uses."""
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def wrap_handler(
    handler: Handler, unary: UnaryAround, stream: StreamAround, *, decode: bool = False
) -> Handler:
    """Return a handler whose behaviour runs inside ``unary`` or ``stream``.

    Streaming behaviours written as async generators run inside ``stream``; those written as
    coroutines that call ``context.write`` (the health service's Watch) run inside ``unary``.
    With ``decode``, a unary request is decoded inside them rather than by gRPC, so that one
    that cannot be decoded ends INVALID_ARGUMENT with a plain message (gRPC itself would answer
    UNKNOWN with a Python exception's text) and is counted and logged like any other call.
    """
    deserializer = handler.request_deserializer
    decode = decode and deserializer is not None and not handler.request_streaming
    kwargs = {
        "request_deserializer": None if decode else deserializer,
        "response_serializer": handler.response_serializer,
    }
    streaming = handler.response_streaming
    inner: Callable[..., Any] = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream  # type: ignore[assignment]
    )
    behaviour = _decoding(inner, deserializer) if decode else inner
    if streaming and inspect.isasyncgenfunction(behaviour):

        async def generator(
            first: Any, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async for response in stream(lambda: behaviour(first, context), context):
                yield response

        wrapped: Callable[..., Any] = generator
    else:

        async def coroutine(first: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            return await unary(lambda: behaviour(first, context), context)

        wrapped = coroutine
    if handler.request_streaming and streaming:
        return grpc.stream_stream_rpc_method_handler(wrapped, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(wrapped, **kwargs)
    if streaming:
        return grpc.unary_stream_rpc_method_handler(wrapped, **kwargs)
    return grpc.unary_unary_rpc_method_handler(wrapped, **kwargs)


def _decoding(behaviour: Callable[..., Any], deserializer: Any) -> Callable[..., Any]:
    """``behaviour`` given its request decoded from bytes, or INVALID_ARGUMENT."""

    async def request_of(raw: bytes, context: aio.ServicerContext[Any, Any]) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # protobuf raises DecodeError; nothing else is expected
            await abort_with_error(
                context,
                InvalidArgument(
                    "request",
                    f"cannot be decoded as this method's message ({len(raw)} bytes):"
                    " check the client's contract version",
                ),
            )

    if inspect.isasyncgenfunction(behaviour):

        async def generator(raw: bytes, context: aio.ServicerContext[Any, Any]) -> Any:
            request = await request_of(raw, context)
            async for response in behaviour(request, context):
                yield response

        return generator

    async def coroutine(raw: bytes, context: aio.ServicerContext[Any, Any]) -> Any:
        return await behaviour(await request_of(raw, context), context)

    return coroutine


class ObservabilityInterceptor(_ServerInterceptor):
    """Counts and times every RPC by method and status code, and logs it."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        """Wrap the handler with metrics and a log line."""
        handler = await continuation(handler_call_details)
        if handler is None:  # not a method of this server: let gRPC answer UNIMPLEMENTED
            return handler
        method = handler_call_details.method
        service, _, name = method.lstrip("/").partition("/")
        labels = (rpc_type(handler), service, name)

        async def unary(
            run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]
        ) -> Any:
            start, peer = self._started(labels, context)
            try:
                return await run()
            finally:
                self._finished(method, labels, context, start, peer)

        async def stream(
            run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            start, peer = self._started(labels, context)
            try:
                async for response in run():
                    yield response
            finally:
                self._finished(method, labels, context, start, peer)

        return wrap_handler(handler, unary, stream, decode=True)

    @staticmethod
    def _started(
        labels: tuple[str, str, str], context: aio.ServicerContext[Any, Any]
    ) -> tuple[float, str]:
        RPC_STARTED.labels(*labels).inc()
        # The peer is read now, while the call is alive: a stream whose client went away is
        # finalized after gRPC has freed the call, and asking for its peer then crashes the
        # process (a NULL call in the C core; seen when schedulers were killed mid-stream).
        return time.perf_counter(), context.peer()

    @staticmethod
    def _finished(
        method: str,
        labels: tuple[str, str, str],
        context: aio.ServicerContext[Any, Any],
        start: float,
        peer: str,
    ) -> None:
        seconds = time.perf_counter() - start
        code = _status_code(context)
        RPC_HANDLED.labels(*labels, code.name).inc()
        RPC_SECONDS.labels(*labels).observe(seconds)
        level = logging.DEBUG if code is grpc.StatusCode.OK else logging.INFO
        logger.log(
            level,
            "rpc finished",
            extra={
                "action": "rpc",
                "method": method,
                "code": code.name,
                "duration_ms": round(seconds * 1000, 3),
                "peer": peer,
            },
        )


def _status_code(context: aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.OK


def call_credentials(context: aio.ServicerContext[Any, Any]) -> Credentials:
    """What the current call presents: token, lease and client-certificate names."""
    return credentials_of(context.invocation_metadata() or (), context.auth_context())


class AuthInterceptor(_ServerInterceptor):
    """Refuses calls whose credentials are missing, unknown, or not allowed for the RPC.

    Tokens and leases travel in the metadata, so most calls are decided before the handler
    runs; when certificate names grant roles, the decision waits for the call's context, the
    only place where gRPC shows the peer's verified certificate.
    """

    def __init__(self, config: AuthConfig) -> None:
        self._config = config

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        """Pass allowed calls on; answer the others with UNAUTHENTICATED or PERMISSION_DENIED."""
        handler = await continuation(handler_call_details)
        if handler is None:  # not a method of this server: let gRPC answer UNIMPLEMENTED
            return handler
        config = self._config
        if not config.enabled:
            return handler
        method = handler_call_details.method
        if not config.uses_identities:
            metadata = handler_call_details.invocation_metadata or ()
            decision = authorize(method, credentials_of(metadata, {}), config)
            if decision is AuthDecision.ALLOW:
                return handler
            return wrap_handler(handler, *_refusal(method, decision))

        async def check(context: aio.ServicerContext[Any, Any]) -> None:
            decision = authorize(method, call_credentials(context), config)
            if decision is not AuthDecision.ALLOW:
                await abort_with_error(context, refusal_error(method, decision))

        async def unary(
            run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]
        ) -> Any:
            await check(context)
            return await run()

        async def stream(
            run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await check(context)
            async for response in run():
                yield response

        return wrap_handler(handler, unary, stream)


def refusal_error(method: str, decision: AuthDecision) -> ServiceError:
    """The error a refused call gets: its status code, message and standard details."""
    message = refusal_message(method, decision)
    if decision is AuthDecision.UNAUTHENTICATED:
        return Unauthenticated(message)
    return PermissionDenied(message)


async def abort_with_error(context: aio.ServicerContext[Any, Any], err: ServiceError) -> None:
    """Fail the call with ``err``: its code, message and details (Tradewind's and google.rpc's)."""
    status = rpc_status.to_status(err.to_status())
    await context.abort(status.code, status.details, status.trailing_metadata)


def _refusal(method: str, decision: AuthDecision) -> tuple[UnaryAround, StreamAround]:
    error = refusal_error(method, decision)

    async def refuse_unary(
        run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]
    ) -> Any:
        await abort_with_error(context, error)

    async def refuse_stream(
        run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await abort_with_error(context, error)
        yield  # pragma: no cover - abort raises

    return refuse_unary, refuse_stream


class ErrorInterceptor(_ServerInterceptor):
    """Maps exceptions raised by handlers to status codes with actionable messages."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        """Wrap the handler so that exceptions become proper statuses."""
        handler = await continuation(handler_call_details)
        if handler is None:  # not a method of this server: let gRPC answer UNIMPLEMENTED
            return handler
        method = handler_call_details.method

        async def unary(
            run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]
        ) -> Any:
            try:
                return await run()
            except Exception as err:
                await _abort_with(err, method, context)

        async def stream(
            run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            try:
                async for response in run():
                    yield response
            except Exception as err:
                await _abort_with(err, method, context)

        return wrap_handler(handler, unary, stream)


async def _abort_with(err: Exception, method: str, context: aio.ServicerContext[Any, Any]) -> None:
    if isinstance(err, aio.AbortError):
        raise err
    if isinstance(err, ServiceError):
        await abort_with_error(context, err)
    logger.exception(
        "unexpected error in %s", method, extra={"action": "rpc_error", "method": method}
    )
    message = f"internal error in {method} ({type(err).__name__}); see the service log"
    await abort_with_error(context, ServiceError(message))
