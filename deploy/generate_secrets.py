#!/usr/bin/env python3
"""Generate the secrets of the shipped deployments (deploy/compose.yaml, deploy/k8s/base).

Random tokens, a Fernet key, a database password. Nothing in the repository holds a secret
value; the manifests and the compose file read these generated, git-ignored files, so a
deployment without them fails to render or start instead of running with a value everyone
knows.

    python3 deploy/generate_secrets.py                   # both: compose and Kubernetes
    python3 deploy/generate_secrets.py compose
    python3 deploy/generate_secrets.py k8s --database-url 'postgresql://tradewind:...@db:5432/tradewind'
    echo "$URL" | python3 deploy/generate_secrets.py k8s --database-url -     # kept off ps

compose writes deploy/secrets/ (read by compose.yaml's top-level ``secrets:``):
  postgres-password  the password the postgres container is created with
  database-url       postgresql://tradewind:<that password>@postgres:5432/tradewind
  secret-key         the Fernet key that encrypts connection secrets at rest (state replicas)
  api-token          the bearer token of clients (CLI, programs): the public API only
  service-token      the bearer token of the services: every RPC
  state-token.env    TRADEWIND_STATE_TOKEN=<service token>, for compose's env_file (executor
                     and DAG processor, whose child processes run user code: see README)

k8s writes deploy/k8s/base/secrets/ (read by the base's secretGenerator):
  database-url, secret-key, api-token, service-token  as above; database-url is --database-url,
                     else the address postgres:5432 with a generated password (printed nowhere:
                     read it from the file to create the database user)

Each folder is made mode 0700. Kubernetes files are 0600 (only kustomize, run by you, reads
them). Compose files are 0644 inside that 0700 folder: Docker Compose bind-mounts a secret
file with its host owner and mode, and the containers run as another user (10001, or
postgres), which could not read a 0600 file; the folder keeps other host users out. Existing
files are never overwritten without --force (then every file of the target is replaced, so the
values stay consistent: restart every service afterwards). Only the standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
COMPOSE_DIR = DEPLOY / "secrets"
K8S_DIR = DEPLOY / "k8s" / "base" / "secrets"
TARGETS = ("compose", "k8s")
#: The database the compose file runs, and the one the Kubernetes base assumes by default.
DATABASE_USER = "tradewind"
DATABASE_HOST = "postgres:5432"
DATABASE_NAME = "tradewind"
COMPOSE_FILE_MODE = 0o644
K8S_FILE_MODE = 0o600
DIR_MODE = 0o700


def token() -> str:
    """A random bearer token: 32 bytes, URL-safe base64 (never a comma, so lists stay lists)."""
    return secrets.token_urlsafe(32)


def fernet_key() -> str:
    """A Fernet key: 32 random bytes in URL-safe base64, what cryptography's Fernet reads."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def database_url(password: str) -> str:
    """The URL of the compose file's database (and the Kubernetes default) with ``password``."""
    return f"postgresql://{DATABASE_USER}:{password}@{DATABASE_HOST}/{DATABASE_NAME}"


def compose_values() -> dict[str, str]:
    """Fresh values for deploy/secrets/."""
    password = token()
    service = token()
    return {
        "postgres-password": password,
        "database-url": database_url(password),
        "secret-key": fernet_key(),
        "api-token": token(),
        "service-token": service,
        "state-token.env": f"TRADEWIND_STATE_TOKEN={service}\n",
    }


def k8s_values(url: str | None) -> dict[str, str]:
    """Fresh values for deploy/k8s/base/secrets/."""
    return {
        "database-url": url or database_url(token()),
        "secret-key": fernet_key(),
        "api-token": token(),
        "service-token": token(),
    }


def check_free(folder: Path, values: Mapping[str, str]) -> None:
    """Refuse (exit 1) when ``folder`` already holds one of the files."""
    existing = [name for name in values if (folder / name).exists()]
    if existing:
        raise SystemExit(
            f"generate_secrets: {folder} already holds {', '.join(existing)}; nothing written"
            " (--force replaces every file, then restart every service)"
        )


def write_files(folder: Path, values: Mapping[str, str], *, mode: int) -> None:
    """Write every value into ``folder`` (made 0700) with ``mode``.

    Each file is written beside its final name, then renamed into place.
    """
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    folder.chmod(DIR_MODE)
    # A belt to the repository's .gitignore braces: git never offers these files.
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Generated secrets (deploy/generate_secrets.py): never commit.\n*\n")
    for name, value in values.items():
        final = folder / name
        temporary = folder / f".{name}.tmp"
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)  # whatever the umask
            handle.write(value)
        os.replace(temporary, final)


def read_database_url(given: str | None) -> str | None:
    """``--database-url``: the URL, ``-`` for one line of standard input, or None."""
    if given != "-":
        return given
    line = sys.stdin.readline().strip()
    if not line:
        raise SystemExit("generate_secrets: --database-url - read nothing from standard input")
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the requested targets' secret files; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="generate_secrets.py",
        description="Generate the secret files of deploy/compose.yaml and deploy/k8s/base.",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="compose, k8s, or both (the default)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing files")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="the Kubernetes database-url (- reads it from standard input); default: a"
        f" generated password for {DATABASE_USER}@{DATABASE_HOST}/{DATABASE_NAME}",
    )
    parser.add_argument("--compose-dir", type=Path, default=COMPOSE_DIR, help="%(default)s")
    parser.add_argument("--k8s-dir", type=Path, default=K8S_DIR, help="%(default)s")
    args = parser.parse_args(argv)
    targets = list(dict.fromkeys(args.targets or TARGETS))
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r} (choose from {', '.join(TARGETS)})")
    url = read_database_url(args.database_url) if "k8s" in targets else None
    plans = {
        "compose": (args.compose_dir, compose_values, COMPOSE_FILE_MODE),
        "k8s": (args.k8s_dir, lambda: k8s_values(url), K8S_FILE_MODE),
    }
    if not args.force:
        for target in targets:
            folder, values, _ = plans[target]
            check_free(folder, values())
    for target in targets:
        folder, values, mode = plans[target]
        write_files(folder, values(), mode=mode)
        print(f"{target}: wrote {folder}/")
    if "k8s" in targets and url is None:
        print(
            f"k8s: database-url names {DATABASE_USER}@{DATABASE_HOST}/{DATABASE_NAME} with a"
            f" generated password (in {args.k8s_dir / 'database-url'}); give --database-url"
            " (with --force) for another database"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
