"""A server's TLS and mutual-TLS credentials, read from configured PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from tradewind_common.tls import read_pem


@dataclass(frozen=True, kw_only=True)
class ServerTLSConfig:
    """A server's certificate and key; with a client CA, clients must present certificates."""

    cert_file: Path
    key_file: Path
    #: CA bundle that client certificates must chain to (mutual TLS); None for server-only TLS.
    client_ca_file: Path | None = None


def server_credentials(config: ServerTLSConfig) -> grpc.ServerCredentials:
    """Build server credentials, requiring client certificates when a client CA is set."""
    key = read_pem(config.key_file, "TLS key file")
    cert = read_pem(config.cert_file, "TLS certificate file")
    client_ca = (
        read_pem(config.client_ca_file, "TLS client CA file") if config.client_ca_file else None
    )
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
