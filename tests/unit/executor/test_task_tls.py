"""Which TLS settings task processes get to reach the state service."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.service import task_tls_config
from tradewind_common.channels import ChannelConfig
from tradewind_common.config import ConfigError
from tradewind_common.tls import ClientTLSConfig

EXECUTOR_TLS = ClientTLSConfig(
    ca_file=Path("/tls/ca.pem"),
    cert_file=Path("/tls/executor.pem"),
    key_file=Path("/tls/executor.key"),
)
SECURE = ChannelConfig(targets=("state:50051",), tls=EXECUTOR_TLS, token="service-token")
PLAIN = ChannelConfig(targets=("state:50051",))


def test_tasks_present_the_executors_certificate_by_default() -> None:
    assert task_tls_config(SECURE, None, None) == EXECUTOR_TLS
    assert task_tls_config(PLAIN, None, None) is None


def test_tasks_present_their_own_certificate_when_given_one() -> None:
    tls = task_tls_config(SECURE, Path("/tls/task.pem"), Path("/tls/task.key"))
    assert tls == ClientTLSConfig(
        ca_file=Path("/tls/ca.pem"),
        cert_file=Path("/tls/task.pem"),
        key_file=Path("/tls/task.key"),
    )


@pytest.mark.parametrize(
    ("state", "cert", "key", "message"),
    [
        (SECURE, Path("/tls/task.pem"), None, "go together"),
        (PLAIN, Path("/tls/task.pem"), Path("/tls/task.key"), "needs TLS to the state service"),
    ],
)
def test_inconsistent_task_certificates_are_refused(
    state: ChannelConfig, cert: Path | None, key: Path | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        task_tls_config(state, cert, key)
