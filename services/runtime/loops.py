"""Background loops that outlive the state service's outages.

:func:`run_guarded` runs one loop of a service; an RPC failure or an unexpected error is
logged with the loop's name and the loop starts again after a pause, so a service keeps
working through a state service restart without any loop of its own handling it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from grpc import aio

#: Pause before a failed loop starts again.
RETRY_SECONDS = 0.5


async def run_guarded(
    loop: Callable[[], Awaitable[None]],
    *,
    logger: logging.Logger,
    name: str | None = None,
    retry_seconds: float = RETRY_SECONDS,
    again: Callable[[], bool] = lambda: True,
) -> None:
    """Run ``loop`` until it returns; after a failure, run it again while ``again()`` holds.

    Args:
        loop: the coroutine function of the loop.
        logger: the service's logger.
        name: the loop's name in log records (its function name by default).
        retry_seconds: the pause after a failure.
        again: asked after each failure; False ends the loop (the service is stopping).

    """
    action = name or getattr(loop, "__name__", "loop")
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except grpc.RpcError as err:
            code = err.code() if isinstance(err, aio.AioRpcError) else None
            logger.warning("state service call failed", extra={"action": action, "code": str(code)})
        except Exception:
            logger.exception("loop failed", extra={"action": action})
        if not again():
            return
        await asyncio.sleep(retry_seconds)
