"""Container healthcheck: ask the service in this container for its gRPC health.

Exits 0 when the standard health service (``grpc.health.v1.Health/Check``, overall service
``""``) answers SERVING, 1 otherwise (NOT_SERVING while starting or draining, the state
service while its database is unreachable, or no answer). It imports only grpcio and
grpcio-health-checking, never Tradewind, so it stays cheap.

Usage: ``python healthcheck.py [PORT]``; the port defaults to ``$TRADEWIND_HEALTH_PORT`` when
it is set and not 0 (the plaintext health-only port a service serves beside a TLS gRPC port),
else ``$TRADEWIND_PORT`` (set by the compose file for every service), else 50051. It speaks
plaintext gRPC to 127.0.0.1: with TLS on the gRPC port, set TRADEWIND_HEALTH_PORT.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_SECONDS = float(os.environ.get("TRADEWIND_HEALTHCHECK_TIMEOUT", "3"))


def main(argv: list[str]) -> int:
    """Check the service's health; return the exit status."""
    health_port = os.environ.get("TRADEWIND_HEALTH_PORT", "").strip()
    if len(argv) > 1:
        port = argv[1]
    elif health_port not in ("", "0"):
        port = health_port
    else:
        port = os.environ.get("TRADEWIND_PORT", "50051")
    target = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(target) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else None
        print(f"{target}: {code.name if code else err}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{target}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
