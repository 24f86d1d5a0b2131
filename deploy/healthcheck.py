"""Container healthcheck: ask the service in this container for its gRPC health.

Exits 0 when the standard health service (``grpc.health.v1.Health/Check``, overall service
``""``) answers SERVING, 1 otherwise (NOT_SERVING while starting or draining, the state
service while its database is unreachable, or no answer). It imports only grpcio and
grpcio-health-checking, never Tradewind, so it stays cheap.

Usage: ``python healthcheck.py [PORT]``; the port defaults to ``$TRADEWIND_PORT`` (set by the
compose file for every service), else 50051. It speaks plaintext gRPC to 127.0.0.1, so it
fits services started without ``--tls-cert``.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_SECONDS = float(os.environ.get("TRADEWIND_HEALTHCHECK_TIMEOUT", "3"))


def main(argv: list[str]) -> int:
    """Check the service's health; return the exit status."""
    port = argv[1] if len(argv) > 1 else os.environ.get("TRADEWIND_PORT", "50051")
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
