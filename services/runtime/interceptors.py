"""Server interceptors every service installs, outermost first.

1. :class:`ObservabilityInterceptor`: per-RPC Prometheus metrics and one structured log line.
2. :class:`AuthInterceptor`: bearer-token checks (see :mod:`services.runtime.auth`).
3. :class:`ErrorInterceptor`: turns :class:`ServiceError` into its status code and typed detail,
   and any other exception into INTERNAL with a pointer to the server log.

Streaming handlers must be async generators (``yield`` responses, never ``context.write``).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio
from grpc_status import rpc_status

from services.runtime.auth import AuthConfig, AuthDecision, authorize, bearer_token, service_of
from services.runtime.errors import ServiceError
from services.runtime.metrics import RPC_HANDLED, RPC_SECONDS, RPC_STARTED

logger = logging.getLogger("tradewind.rpc")

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
#: Runs the wrapped behaviour once; the wrapper decides what happens around it.
UnaryAround = Callable[[Callable[[], Awaitable[Any]], aio.ServicerContext[Any, Any]], Awaitable[Any]]
StreamAround = Callable[
    [Callable[[], AsyncIterator[Any]], aio.ServicerContext[Any, Any]], AsyncIterator[Any]
]


def rpc_type(handler: grpc.RpcMethodHandler) -> str:
    """Return the RPC's kind with the labels go-grpc-prometheus uses."""
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def wrap_handler(
    handler: grpc.RpcMethodHandler, unary: UnaryAround, stream: StreamAround
) -> grpc.RpcMethodHandler:
    """Return a handler whose behaviour runs inside ``unary`` or ``stream``."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        unary_unary = handler.unary_unary

        async def unary_unary_wrapped(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            return await unary(lambda: unary_unary(request, context), context)

        return grpc.unary_unary_rpc_method_handler(unary_unary_wrapped, **kwargs)
    if handler.stream_unary:
        stream_unary = handler.stream_unary

        async def stream_unary_wrapped(requests: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            return await unary(lambda: stream_unary(requests, context), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary_wrapped, **kwargs)
    if handler.unary_stream:
        unary_stream = handler.unary_stream

        async def unary_stream_wrapped(
            request: Any, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async for response in stream(lambda: _responses(unary_stream(request, context)), context):
                yield response

        return grpc.unary_stream_rpc_method_handler(unary_stream_wrapped, **kwargs)
    stream_stream = handler.stream_stream

    async def stream_stream_wrapped(
        requests: Any, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for response in stream(lambda: _responses(stream_stream(requests, context)), context):
            yield response

    return grpc.stream_stream_rpc_method_handler(stream_stream_wrapped, **kwargs)


def _responses(result: Any) -> AsyncIterator[Any]:
    if not inspect.isasyncgen(result):
        raise TypeError("streaming handlers must be async generators that yield responses")
    return result  # type: ignore[no-any-return]


class ObservabilityInterceptor(aio.ServerInterceptor):
    """Counts and times every RPC by method and status code, and logs it."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Wrap the handler with metrics and a log line."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        service, _, name = method.lstrip("/").partition("/")
        labels = (rpc_type(handler), service, name)

        async def unary(run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]) -> Any:
            start = self._started(labels)
            try:
                return await run()
            finally:
                self._finished(method, labels, context, start)

        async def stream(
            run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            start = self._started(labels)
            try:
                async for response in run():
                    yield response
            finally:
                self._finished(method, labels, context, start)

        return wrap_handler(handler, unary, stream)

    @staticmethod
    def _started(labels: tuple[str, str, str]) -> float:
        RPC_STARTED.labels(*labels).inc()
        return time.perf_counter()

    @staticmethod
    def _finished(
        method: str,
        labels: tuple[str, str, str],
        context: aio.ServicerContext[Any, Any],
        start: float,
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
                "peer": context.peer(),
            },
        )


def _status_code(context: aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.OK


class AuthInterceptor(aio.ServerInterceptor):
    """Refuses calls whose bearer token is missing, unknown, or not allowed for the RPC."""

    def __init__(self, config: AuthConfig) -> None:
        self._config = config

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Pass allowed calls on; answer the others with UNAUTHENTICATED or PERMISSION_DENIED."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata or ()
        decision = authorize(method, bearer_token(metadata), self._config)
        if decision is AuthDecision.ALLOW:
            return handler
        if decision is AuthDecision.UNAUTHENTICATED:
            code = grpc.StatusCode.UNAUTHENTICATED
            message = (
                f"{method} needs a valid token: send the header 'authorization: Bearer <token>'"
            )
        else:
            code = grpc.StatusCode.PERMISSION_DENIED
            message = f"{method} is internal to {service_of(method)}: it needs a service token"

        async def refuse_unary(
            run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]
        ) -> Any:
            await context.abort(code, message)

        async def refuse_stream(
            run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await context.abort(code, message)
            yield  # pragma: no cover - abort raises

        return wrap_handler(handler, refuse_unary, refuse_stream)


class ErrorInterceptor(aio.ServerInterceptor):
    """Maps exceptions raised by handlers to status codes with actionable messages."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """Wrap the handler so that exceptions become proper statuses."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        async def unary(run: Callable[[], Awaitable[Any]], context: aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await run()
            except Exception as err:  # noqa: BLE001 - every error must become a status
                await _abort_with(err, method, context)

        async def stream(
            run: Callable[[], AsyncIterator[Any]], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            try:
                async for response in run():
                    yield response
            except Exception as err:  # noqa: BLE001 - every error must become a status
                await _abort_with(err, method, context)

        return wrap_handler(handler, unary, stream)


async def _abort_with(err: Exception, method: str, context: aio.ServicerContext[Any, Any]) -> None:
    if isinstance(err, aio.AbortError):
        raise err
    if isinstance(err, ServiceError):
        status = rpc_status.to_status(err.to_status())
    else:
        logger.exception(
            "unexpected error in %s", method, extra={"action": "rpc_error", "method": method}
        )
        status = rpc_status.to_status(
            ServiceError(
                f"internal error in {method} ({type(err).__name__}); the service log has the details"
            ).to_status()
        )
    await context.abort(status.code, status.details, status.trailing_metadata)
