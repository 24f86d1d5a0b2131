"""TLS and mutual-TLS credentials of a client, read from configured PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from tradewind_common.config import ConfigError


@dataclass(frozen=True, kw_only=True)
class ClientTLSConfig:
    """What a client trusts, and optionally the certificate it presents (mutual TLS)."""

    #: CA bundle the server's certificate must chain to; None means the system roots.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Expected name in the server's certificate when it differs from the target host.
    server_name: str = ""


def read_pem(path: Path, what: str) -> bytes:
    """Read a PEM file, raising ConfigError that names the file and the problem."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror or err}") from err
    if b"-----BEGIN" not in data:
        raise ConfigError(f"{what} {path} is not a PEM file")
    return data


def channel_credentials(config: ClientTLSConfig) -> grpc.ChannelCredentials:
    """Build channel credentials from the configured CA and client certificate."""
    if (config.cert_file is None) != (config.key_file is None):
        raise ConfigError("a TLS client certificate needs both its certificate and key files")
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(config.ca_file, "TLS CA file") if config.ca_file else None,
        private_key=read_pem(config.key_file, "TLS key file") if config.key_file else None,
        certificate_chain=(
            read_pem(config.cert_file, "TLS certificate file") if config.cert_file else None
        ),
    )
