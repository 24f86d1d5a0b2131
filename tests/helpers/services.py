"""Start the non-state services as real processes pointed at a state service."""

from __future__ import annotations

from collections.abc import Mapping

from tests.helpers.processes import ServiceProcess, free_port


def start_service(
    module: str, state_address: str, *flags: str, env: Mapping[str, str] | None = None
) -> ServiceProcess:
    """Start ``python -m <module>`` (with ``env`` added to its environment) until it serves."""
    port = free_port()
    process = ServiceProcess(
        args=[
            "-m",
            module,
            "--port",
            str(port),
            "--metrics-port",
            "0",
            "--state-address",
            state_address,
            "--grace-period",
            "3",
            *flags,
        ],
        port=port,
        env=dict(env or {}),
    )
    return process.start().wait_serving()
