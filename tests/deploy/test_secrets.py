"""The deployments' secrets: deploy/generate_secrets.py makes them (random, owner-only, never
over existing ones), git and the image build leave them out, and no committed file under
deploy/ holds a token, a password or a key."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.deploy.deployfiles import (
    COMPOSE_SECRETS_DIR,
    DEPLOY,
    K8S_SECRETS_DIR,
    generate_secrets,
)
from tests.helpers.processes import REPO_ROOT

COMPOSE_FILES = {
    "postgres-password",
    "database-url",
    "secret-key",
    "api-token",
    "service-token",
    "state-token.env",
}
K8S_FILES = {"database-url", "secret-key", "api-token", "service-token"}
TOKENS = ("postgres-password", "api-token", "service-token")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def values(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir() if p.name != ".gitignore"}


def test_both_targets_are_generated_random_well_formed_and_owner_only(tmp_path: Path) -> None:
    compose, k8s = tmp_path / "compose", tmp_path / "k8s"
    result = generate_secrets(compose_dir=compose, k8s_dir=k8s)
    assert result.returncode == 0, result.stderr
    assert set(values(compose)) == COMPOSE_FILES
    assert set(values(k8s)) == K8S_FILES
    for folder in (compose, k8s):
        assert mode(folder) == 0o700, folder
    for path in k8s.iterdir():
        if path.name != ".gitignore":
            assert mode(path) == 0o600, path
    for path in compose.iterdir():
        # Compose bind-mounts the file as it is; the containers' users must read it, the
        # 0700 folder keeps other host users out.
        if path.name != ".gitignore":
            assert mode(path) == 0o644, path
    ours, theirs = values(compose), values(k8s)
    for name in TOKENS:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", ours[name]), name
    for name in ("api-token", "service-token"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", theirs[name]), name
        assert ours[name] != theirs[name], "each target gets its own values"
    assert ours["api-token"] != ours["service-token"]
    for folder_values in (ours, theirs):
        Fernet(folder_values["secret-key"].encode())
    assert ours["database-url"] == (
        f"postgresql://tradewind:{ours['postgres-password']}@postgres:5432/tradewind"
    )
    assert ours["state-token.env"] == f"TRADEWIND_STATE_TOKEN={ours['service-token']}\n"
    assert re.fullmatch(
        r"postgresql://tradewind:[A-Za-z0-9_-]{43}@postgres:5432/tradewind", theirs["database-url"]
    )
    again = tmp_path / "again"
    assert generate_secrets("compose", compose_dir=again).returncode == 0
    assert not set(values(again).values()) & set(ours.values()), "values are random"


def test_existing_secrets_are_never_overwritten_without_force(tmp_path: Path) -> None:
    compose, k8s = tmp_path / "compose", tmp_path / "k8s"
    assert generate_secrets("k8s", k8s_dir=k8s).returncode == 0
    before = values(k8s)
    refused = generate_secrets(compose_dir=compose, k8s_dir=k8s)
    assert refused.returncode == 1
    assert "already holds" in refused.stderr
    assert "--force" in refused.stderr
    assert values(k8s) == before
    assert not compose.exists(), "nothing is written when one target is refused"
    forced = generate_secrets("k8s", k8s_dir=k8s, force=True)
    assert forced.returncode == 0, forced.stderr
    after = values(k8s)
    assert set(after) == K8S_FILES
    assert not set(after.values()) & set(before.values())
    for path in k8s.iterdir():
        if path.name != ".gitignore":
            assert mode(path) == 0o600, path


def test_the_database_url_can_be_given_and_read_from_standard_input(tmp_path: Path) -> None:
    url = "postgresql://tradewind:from-stdin@db.example.com:5432/tradewind"
    result = generate_secrets("k8s", k8s_dir=tmp_path / "k8s", database_url="-", stdin=url + "\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k8s" / "database-url").read_text() == url
    assert "from-stdin" not in result.stdout + result.stderr, "the URL is printed nowhere"
    given = generate_secrets("k8s", k8s_dir=tmp_path / "given", database_url=url)
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "given" / "database-url").read_text() == url


def test_an_unknown_target_is_refused(tmp_path: Path) -> None:
    result = generate_secrets("swarm", compose_dir=tmp_path / "c", k8s_dir=tmp_path / "k")
    assert result.returncode == 2
    assert "unknown target" in result.stderr
    assert not (tmp_path / "c").exists()


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
    )


def committed_deploy_files() -> list[Path]:
    """The files under deploy/ that git tracks or would offer to commit (not ignored)."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "deploy")
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    return [REPO_ROOT / name for name in listed.stdout.split("\0") if name]


def test_the_generated_folders_are_ignored_by_git_and_by_the_image_build() -> None:
    committed_deploy_files()  # skips outside a git checkout
    for folder, names in ((COMPOSE_SECRETS_DIR, COMPOSE_FILES), (K8S_SECRETS_DIR, K8S_FILES)):
        relative = folder.relative_to(REPO_ROOT)
        for name in names:
            path = f"{relative}/{name}"
            assert git("check-ignore", "-q", "--no-index", path).returncode == 0, path
            assert not git("ls-files", path).stdout, f"{path} is committed"
    from tests.deploy.test_image import ignored

    for ignore_file in (DEPLOY / "Dockerfile.dockerignore", REPO_ROOT / ".dockerignore"):
        rules = [
            line.strip()
            for line in ignore_file.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for path in ("deploy/secrets/service-token", "deploy/k8s/base/secrets/api-token"):
            assert ignored(path, rules), f"{ignore_file.name} sends {path} to the builder"


#: Values that deploy/ once shipped as examples.
OLD_EXAMPLES = ("CHANGE-ME", "POSTGRES_PASSWORD:-", "tradewind:tradewind@")
#: What a password in a URL may be in a committed file: a placeholder, never a value.
PLACEHOLDER = re.compile(r"(?:[A-Z][A-Z_-]*|\{[A-Za-z_]+\}|\.\.\.|<[^>]+>|\$\{?[A-Za-z_]+\}?|\*+)")
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:([^\s@'\"]+)@")
#: A run of token characters long enough to be a key or a token.
LONG_RUN = re.compile(r"[A-Za-z0-9_-]{24,}={0,2}")
#: A YAML or env assignment of a literal to a secret-named setting.
SECRET_ASSIGNMENT = re.compile(
    r"^\s*-?\s*(?:name:\s*)?(?P<name>[A-Z_]*(?:TOKEN|TOKENS|PASSWORD|SECRET_KEY|DATABASE_URL))"
    r"\s*[:=]\s*(?P<value>\S.*)$",
    re.M,
)


def looks_random(run: str) -> bool:
    """Whether a run of characters mixes cases (and digits) with as many distinct characters
    as generated values have (43 random URL-safe characters hold about 30 distinct ones;
    names like ``tradewind_scheduler_pass_seconds`` or ``ListSchedulableDags`` far fewer)."""
    lower, upper = re.search(r"[a-z]", run), re.search(r"[A-Z]", run)
    distinct = len(set(run))
    if not (lower and upper):
        return False
    return distinct >= 20 or (bool(re.search(r"[0-9]", run)) and distinct >= 16)


def secret_problems(text: str) -> list[str]:
    """Why ``text`` seems to hold a secret value (empty when it holds none)."""
    problems = [f"the old example value {old!r}" for old in OLD_EXAMPLES if old in text]
    for match in URL_PASSWORD.finditer(text):
        if not PLACEHOLDER.fullmatch(match[1]):
            problems.append(f"a password in {match[0]!r}")
    for match in LONG_RUN.finditer(text):
        if looks_random(match[0]):
            problems.append(f"a random-looking value {match[0][:8]}...")
    for match in SECRET_ASSIGNMENT.finditer(text):
        value = match["value"].strip().strip("\"'")
        if not value.startswith(("/run/secrets/", "${", "valueFrom", "<", "$(")) and value:
            problems.append(f"{match['name']} set to a literal")
    return problems


def test_the_scan_finds_generated_values_and_the_old_examples(tmp_path: Path) -> None:
    assert generate_secrets("compose", compose_dir=tmp_path / "s").returncode == 0
    for name, value in values(tmp_path / "s").items():
        assert secret_problems(f"value: {value}\n"), name
    assert secret_problems("database-url: postgresql://tradewind:CHANGE-ME@postgres:5432/x")
    assert secret_problems("url: postgresql://tradewind:hunter2@db:5432/tradewind")
    assert secret_problems("      TRADEWIND_API_TOKENS: some-token\n")
    assert not secret_problems("postgresql://tradewind:PASSWORD@db.example.com:5432/tradewind")
    assert not secret_problems("      TRADEWIND_API_TOKENS_FILE: /run/secrets/tradewind/api-token")
    assert not secret_problems("tradewind_scheduler_upstream_success_to_queued_seconds")


def test_no_committed_file_under_deploy_holds_a_secret() -> None:
    files = committed_deploy_files()
    assert any(path.name == "compose.yaml" for path in files)
    for path in files:
        if not path.exists():  # deleted in the work tree, not yet committed
            continue
        problems = secret_problems(path.read_text(encoding="utf-8"))
        assert not problems, f"{path.relative_to(REPO_ROOT)}: {problems}"
