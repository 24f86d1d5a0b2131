"""The container image definition, checked without a Docker engine: the Dockerfile's stages,
user, entrypoint, ports and volume, that it copies every package the distribution ships, that
its ignore file lets those through, and the healthcheck script it carries."""

from __future__ import annotations

import ast
import fnmatch
import json
import subprocess
import sys
import tomllib

from tests.deploy.deployfiles import (
    DOCKERFILE,
    DOCKERIGNORE,
    HEALTHCHECK,
    SERVICE_PORTS,
    dockerfile_stages,
    image_env,
)
from tests.helpers.processes import REPO_ROOT, free_port


def instructions(stage: int, name: str) -> list[str]:
    return [rest for instruction, rest in dockerfile_stages()[stage] if instruction == name]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list), f"{text} is not in exec form"
    return [str(v) for v in value]


def test_two_stages_on_python_311_slim_the_runtime_copies_the_builders_venv() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2
    args = {
        name: default
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("ARG ") and "=" in line
        for name, default in [line[4:].split("=", 1)]
    }
    bases = [stage[0][1].split(" AS ")[0] for stage in stages]
    resolved = [args.get(b.strip("${}"), b) for b in bases]
    assert resolved == ["python:3.11-slim", "python:3.11-slim"]
    assert [stage[0][1].split(" AS ")[1] for stage in stages] == ["builder", "runtime"]
    builder_runs = " ".join(instructions(0, "RUN"))
    assert "python -m venv /opt/tradewind/venv" in builder_runs
    assert 'pip install ".[postgres]"' in builder_runs
    assert "--editable" not in builder_runs
    assert " -e " not in builder_runs
    assert "--from=builder /opt/tradewind/venv /opt/tradewind/venv" in instructions(1, "COPY")
    assert image_env()["PATH"].startswith("/opt/tradewind/venv/bin:")


def test_the_runtime_runs_as_a_numeric_non_root_user_with_tradewind_as_entrypoint() -> None:
    (user,) = instructions(1, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "a numeric user lets Kubernetes check runAsNonRoot"
    assert int(uid) > 0
    assert not gid or int(gid) > 0
    (entrypoint,) = instructions(1, "ENTRYPOINT")
    words = exec_form(entrypoint)
    assert words[-1] == "tradewind", "the service is chosen by the command"
    assert words[:-1] in ([], ["tini", "--"])
    env = image_env()
    assert env["TRADEWIND_HOME"] == "/var/lib/tradewind"
    assert env["TRADEWIND_DAGS_FOLDER"] == "/dags"
    assert env["TRADEWIND_HOST"] == "0.0.0.0"
    assert not [name for name in env if "DATABASE" in name or "SECRET" in name]


def test_every_service_port_is_exposed_and_the_dag_folder_is_a_volume() -> None:
    exposed = {int(p.split("/")[0]) for line in instructions(1, "EXPOSE") for p in line.split()}
    assert exposed == {port for ports in SERVICE_PORTS.values() for port in ports}
    (volume,) = instructions(1, "VOLUME")
    assert exec_form(volume) == ["/dags"]


def test_the_builder_copies_every_package_the_distribution_ships() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(
        path.name
        for path in REPO_ROOT.iterdir()
        if path.is_dir()
        and (path / "__init__.py").exists()
        and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    )
    copied = {rest.split()[0].rstrip("/") for rest in instructions(0, "COPY")}
    copied |= {word for rest in instructions(0, "COPY") for word in rest.split()[:-1]}
    assert packages, patterns
    for package in packages:
        assert package in copied, f"deploy/Dockerfile does not copy {package}/"
    assert {"pyproject.toml", "README.md"} <= copied, "pip install . needs both"


def ignored(path: str, rules: list[str]) -> bool:
    """Whether Docker's ignore rules leave ``path`` out of the context (last match wins)."""
    excluded = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(_match(prefix, pattern) for prefix in prefixes):
            excluded = not negated
    return excluded


def _match(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(_match("/".join(path.split("/")[i:]), tail) for i in range(path.count("/") + 1))
    return path.count("/") == pattern.count("/") and fnmatch.fnmatchcase(path, pattern)


def test_the_ignore_file_beside_the_dockerfile_keeps_what_it_copies_and_drops_the_rest() -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        word
        for stage in (0, 1)
        for rest in instructions(stage, "COPY")
        if not rest.startswith("--from")
        for word in rest.split()[:-1]
    ]
    for source in sources:
        assert not ignored(source.rstrip("/"), rules), f"{source} is left out of the context"
        assert (REPO_ROOT / source).exists(), source
    for path in [
        "services/runtime/server.py",
        "tradewind/cli/__init__.py",
        "deploy/healthcheck.py",
    ]:
        assert not ignored(path, rules), path
    for path in [
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "services/__pycache__/x.cpython-311.pyc",
        "tradewind/sdk/__pycache__/dag.cpython-311.pyc",
        ".hypothesis/examples",
        "bench/run.py",
    ]:
        assert ignored(path, rules), f"{path} would be sent to the builder"


def test_the_healthcheck_script_needs_only_grpc_and_fails_when_nothing_answers() -> None:
    tree = ast.parse(HEALTHCHECK.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"__future__", "os", "sys", "grpc", "grpc_health"}, imported
    assert "COPY deploy/healthcheck.py /opt/tradewind/healthcheck.py" in [
        f"COPY {rest}" for rest in instructions(1, "COPY")
    ]
    result = subprocess.run(
        [sys.executable, str(HEALTHCHECK), str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr
