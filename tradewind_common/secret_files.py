"""Secrets kept in files of Tradewind's home: owner-only, made once, found by every local tool.

``tradewind standalone`` turns authentication on with tokens it generates here, and the CLI and
the client find the API token here, so that a newcomer types no token while no other local user
(and, confined, no task) can call the services.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tradewind_common.config import ConfigError

#: The folder of the home that holds the generated tokens.
TOKENS_FOLDER = "auth"
API_TOKEN_FILE = "api-token"
SERVICE_TOKEN_FILE = "service-token"
#: Where the home is unless TRADEWIND_HOME says otherwise.
DEFAULT_HOME = Path("~/.tradewind")
HOME_ENV = "TRADEWIND_HOME"


def write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` holding ``text``, readable by its owner only (its new folder likewise).

    Raises:
        FileExistsError: the file exists already (it is never overwritten).

    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret in ``path``, or a new one from ``make`` written there first (owner-only)."""
    try:
        return _non_empty(path)
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):  # another process made it meanwhile
        write_secret_file(path, make())
    return _non_empty(path)


def _non_empty(path: Path) -> str:
    """The secret in ``path``.

    Raises:
        ConfigError: the file is empty (an empty token would turn authentication off).

    """
    text = path.read_text().strip()
    if not text:
        raise ConfigError(f"{path} is empty: delete it to have a new secret made, or fill it")
    return text


def new_token() -> str:
    """A random bearer token (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class LocalTokens:
    """The tokens of one home: the API token people's tools use, the services' token."""

    folder: Path

    @property
    def api_file(self) -> Path:
        """The file of the API token (the CLI and the client read it)."""
        return self.folder / API_TOKEN_FILE

    @property
    def service_file(self) -> Path:
        """The file of the service token (only the services read it)."""
        return self.folder / SERVICE_TOKEN_FILE

    def ensure(self) -> None:
        """Generate whichever token is missing."""
        read_or_create_secret(self.api_file, new_token)
        read_or_create_secret(self.service_file, new_token)


def local_tokens(home: Path) -> LocalTokens:
    """The tokens folder of ``home``."""
    return LocalTokens(home.expanduser() / TOKENS_FOLDER)


def home_folder(environ: Mapping[str, str] | None = None) -> Path:
    """Tradewind's home as every tool finds it: TRADEWIND_HOME, else ``~/.tradewind``."""
    env = os.environ if environ is None else environ
    return Path(env.get(HOME_ENV) or DEFAULT_HOME).expanduser()


def is_loopback_target(target: str) -> bool:
    """Whether a ``host:port`` (or ``dns:///host:port``) names this machine's loopback."""
    host = target.split("///", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_api_token(targets: Sequence[str], home: Path | None = None) -> str:
    """The home's API token when every target is on loopback and the file is there, else ""."""
    if not targets or not all(is_loopback_target(target) for target in targets):
        return ""
    path = local_tokens(home or home_folder()).api_file
    try:
        return path.read_text().strip()
    except OSError:
        return ""


#: Environment variables that processes running user code never inherit: database addresses
#: and credentials, the encryption key, and every token or private key a service holds
#: (``TRADEWIND_SERVICE_TOKENS``, ``TRADEWIND_STATE_TOKEN``, ``TRADEWIND_STATE_TLS_KEY``, ...).
SECRET_PREFIXES = ("TRADEWIND_DATABASE", "TRADEWIND_SECRET", "PG")
#: Variables that lead to processes outside any sandbox of the same user (the session bus can
#: start commands, an agent signs with the user's keys).
SESSION_VARIABLES = frozenset({"DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR"})
SECRET_SUFFIXES = ("_TOKEN", "_TOKENS", "_TLS_KEY", "_PASSWORD")


def is_secret_variable(name: str) -> bool:
    """Whether an environment variable may hold a credential that user code must not see."""
    upper = name.upper().removesuffix("_FILE")  # a file holding a secret: its path too
    if name in SESSION_VARIABLES:
        return True
    return upper.startswith(SECRET_PREFIXES) or (
        upper.startswith("TRADEWIND_") and upper.endswith(SECRET_SUFFIXES)
    )


def scrubbed_environment() -> dict[str, str]:
    """The environment of this process without any database or service secret."""
    return {k: v for k, v in os.environ.items() if not is_secret_variable(k)}
