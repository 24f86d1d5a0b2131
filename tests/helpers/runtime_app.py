"""A service with no servicers of its own, built on the shared runtime, for runtime tests.

Run as ``python -m tests.helpers.runtime_app [server flags]``. It serves what the runtime gives
every service: health, reflection and ServerInfoService.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.runtime import GrpcService, RuntimeContext, ServerConfig, service_main
from tradewind_common.config import Settings


class BareApp:
    """An app that adds nothing to the runtime."""

    service_name = "runtime_test"

    def grpc_services(self) -> Sequence[GrpcService]:
        return ()

    async def start(self, context: RuntimeContext) -> None:
        return None

    async def stop(self, grace_seconds: float) -> None:
        return None


def _build(config: ServerConfig, values: Settings) -> BareApp:
    return BareApp()


if __name__ == "__main__":
    sys.exit(service_main("runtime_test", sys.argv[1:], _build, port=50999, metrics_port=0))
