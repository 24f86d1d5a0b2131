"""Prometheus metrics shared by every service, and the HTTP endpoint that serves them.

The per-RPC metrics use the names of go-grpc-prometheus / py-grpc-prometheus, so existing
dashboards work: ``grpc_server_started_total``, ``grpc_server_handled_total`` and
``grpc_server_handling_seconds``. Process metrics (CPU, memory, open files) come from
prometheus-client's default collectors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from tradewind_common.config import ConfigError

RPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

RPC_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", RPC_LABELS)
RPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    (*RPC_LABELS, "grpc_code"),
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its completion on the server.",
    RPC_LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BUILD_INFO = Gauge(
    "tradewind_build_info",
    "Always 1; labels say which Tradewind service, release and instance this is.",
    ("service", "version", "instance_id"),
)
SERVING = Gauge(
    "tradewind_serving",
    "1 while the service reports SERVING on the gRPC health service, 0 otherwise.",
    ("service",),
)


@dataclass
class MetricsEndpoint:
    """A running metrics HTTP server."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_port)

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_endpoint(host: str, port: int) -> MetricsEndpoint:
    """Serve ``/metrics`` on ``host:port`` in a background thread.

    Raises:
        ConfigError: the port cannot be bound (in use, or not allowed).

    """
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as err:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {err.strerror or err}"
            " (use --metrics-port / TRADEWIND_METRICS_PORT to pick another port, 0 to disable)"
        ) from err
    return MetricsEndpoint(server=server, thread=thread)
