"""Read the deployment files (deploy/): the Dockerfile, the compose file, the Kubernetes
manifests, and turn each Tradewind workload in them into a :class:`Workload` (its command and
environment), so that tests can check them and run them as real processes.

PyYAML and kubernetes-validate are loaded only when a test needs them; when they are missing
the test fails with a message saying what to install.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import copy
import importlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import REPO_ROOT, child_environment

DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE_FILE = DEPLOY / "compose.yaml"
PROMETHEUS_FILE = DEPLOY / "prometheus.yml"
HEALTHCHECK = DEPLOY / "healthcheck.py"
K8S = DEPLOY / "k8s"
K8S_BASE = K8S / "base"
K8S_TLS = K8S / "tls"
GENERATE_SECRETS = DEPLOY / "generate_secrets.py"
#: Where deploy/generate_secrets.py writes the secrets of each target (git-ignored).
COMPOSE_SECRETS_DIR = DEPLOY / "secrets"
K8S_SECRETS_DIR = K8S_BASE / "secrets"
EXAMPLE_DAGS = REPO_ROOT / "examples" / "dags"

#: The packages (name==version) these tests need besides the project's dev extra.
REQUIREMENTS = "PyYAML==6.0.4 kubernetes-validate==1.37.0"

#: Every Tradewind service: its gRPC port and its metrics port (README, "Configuration").
SERVICE_PORTS: dict[str, tuple[int, int]] = {
    "state": (50051, 9151),
    "scheduler": (50052, 9152),
    "executor": (50053, 9153),
    "dag-processor": (50054, 9154),
    "triggerer": (50055, 9155),
}
#: The replicas the deployment files run of each service.
REPLICAS = {"state": 2, "scheduler": 2, "executor": 2, "dag-processor": 1, "triggerer": 2}
#: The services that read the DAG folder: task processes import DAG files, the DAG processor
#: parses them, triggerers import the triggers defined beside DAGs.
DAG_READERS = ("executor", "dag-processor", "triggerer")
#: Seconds after the grace period for a drain's last steps (claims and leases handed back).
DRAIN_MARGIN = 5.0
#: The one-shot schema migration, ``tradewind db migrate``.
MIGRATE = "migrate"
#: Where the services reach the state service inside a deployment.
STATE_ADDRESS = "dns:///state:50051"
#: The database credentials: only the state service (both) and the migration (the URL) get them.
DATABASE_URL = "TRADEWIND_DATABASE_URL"
SECRET_KEY = "TRADEWIND_SECRET_KEY"
CREDENTIALS = (DATABASE_URL, SECRET_KEY)
#: The tokens: the state service accepts both kinds, its clients send the service token.
API_TOKENS = "TRADEWIND_API_TOKENS"
SERVICE_TOKENS = "TRADEWIND_SERVICE_TOKENS"
STATE_TOKEN = "TRADEWIND_STATE_TOKEN"
#: A variable with this suffix names the file that holds the setting's value.
FILE_SUFFIX = "_FILE"
#: The Kubernetes Secrets that hold them (generated from deploy/k8s/base/secrets/).
DATABASE_SECRET = "tradewind-database"
TOKENS_SECRET = "tradewind-tokens"
#: Where a container finds its secret files (Kubernetes volumes and compose secrets alike).
SECRETS_MOUNT = "/run/secrets/tradewind"
#: The services that run user code in child processes as their own OS user (tasks, DAG
#: parses): they get the service token as a variable, never as a file those could read.
CHILD_PROCESS_RUNNERS = ("executor", "dag-processor")
#: The image name the manifests use (kustomize's ``images`` points it at a registry).
K8S_IMAGE = "tradewind"


def drain_seconds(component: str, env: Mapping[str, str]) -> float:
    """The seconds a service needs between SIGTERM and its exit, from its settings.

    Every service: the grace period, then its leases or claims handed back. Executors: also
    TRADEWIND_KILL_GRACE between a running try's SIGTERM and SIGKILL. Triggerers: the
    outcomes not yet sent are reported, then the trigger leases handed back (each at most
    DRAIN_MARGIN).
    """
    drain = float(env["TRADEWIND_GRACE_PERIOD"]) + DRAIN_MARGIN
    if component == "executor":
        drain += float(env["TRADEWIND_KILL_GRACE"])
    if component == "triggerer":
        drain += DRAIN_MARGIN
    return drain


# ---- optional libraries ----


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        problem = str(err)
    pytest.fail(
        f"tests/deploy needs {module!r} ({problem}); install them with"
        f" `pip install {REQUIREMENTS}` (they belong in pyproject's dev extra)",
        pytrace=False,
    )


def yaml_module() -> Any:
    """PyYAML, or a test failure naming the packages to install."""
    return _require("yaml")


def kubernetes_validate() -> Any:
    """kubernetes-validate, or a test failure naming the packages to install."""
    return _require("kubernetes_validate")


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of ``path``."""
    yaml = yaml_module()
    with path.open(encoding="utf-8") as handle:
        documents = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    for doc in documents:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping: {doc!r}"
    return documents


def load_yaml(path: Path) -> dict[str, Any]:
    """The one YAML document of ``path``."""
    (document,) = load_documents(path)
    return document


# ---- durations, interpolation ----


def parse_duration(text: str | int | float) -> float:
    """Seconds in a compose duration (``1m30s``, ``20s``, ``500ms``) or a number."""
    if isinstance(text, int | float):
        return float(text)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts, f"not a duration: {text!r}"
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


class MissingVariable(Exception):
    """A ``${NAME:?message}`` variable that is unset."""


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Substitute compose variables (``$NAME``, ``${NAME}``, ``${NAME:-default}``,
    ``${NAME-default}``, ``${NAME:?error}``, ``${NAME?error}``, ``$$``) in every string of
    ``value``, as ``docker compose`` does.

    Raises:
        MissingVariable: a required variable is unset (or empty, for ``:?``).

    """
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: _substitute(m, variables), value)
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    return value


def _substitute(match: re.Match[str], variables: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    name = match["braced"] or match["bare"]
    op, arg = match["op"], match["arg"] or ""
    present = name in variables and (variables[name] != "" or not (op or "").startswith(":"))
    if present:
        return variables[name]
    if op in (":-", "-"):
        return arg
    if op in (":?", "?"):
        raise MissingVariable(f"{name}: {arg}")
    return ""


# ---- the workloads ----


@dataclass
class Workload:
    """One Tradewind workload of a deployment file: what its containers run."""

    #: Its name in the file (compose service, Deployment or Job).
    name: str
    #: "state", "scheduler", "executor", "dag-processor", "triggerer" or "migrate".
    component: str
    replicas: int
    #: The arguments after the image's entrypoint (``tradewind``).
    args: list[str]
    #: The container's TRADEWIND_* environment: the image's, then the file's.
    env: dict[str, str]
    #: Seconds between SIGTERM and SIGKILL (stop_grace_period, terminationGracePeriodSeconds).
    stop_grace: float | None
    #: Names of environment variables whose value comes from somewhere secret.
    secret_env: set[str] = field(default_factory=set)
    #: The secret files mounted into the container: path in the container -> content.
    secret_files: dict[str, str] = field(default_factory=dict)

    def setting(self, variable: str) -> str | None:
        """The value the service reads for ``variable``: the variable itself, else the content
        of the secret file that ``<variable>_FILE`` names."""
        if variable in self.env:
            return self.env[variable]
        path = self.env.get(variable + FILE_SUFFIX)
        if path is None:
            return None
        assert path in self.secret_files, (
            f"{self.name}: {variable}{FILE_SUFFIX}={path} is no secret file"
        )
        return self.secret_files[path].strip()

    def secret_settings(self) -> set[str]:
        """The variables whose value is secret: from a Secret or env_file, or a secret file."""
        from_files = {
            name.removesuffix(FILE_SUFFIX)
            for name, value in self.env.items()
            if name.endswith(FILE_SUFFIX) and value in self.secret_files
        }
        return self.secret_env | from_files


def component_of(args: list[str]) -> str:
    """The workload's component from its command: ``["db", "migrate"]`` is the migration."""
    if args[:2] == ["db", "migrate"]:
        return MIGRATE
    assert args[:1] in ([s] for s in SERVICE_PORTS), f"unexpected command {args}"
    return args[0]


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of (INSTRUCTION, arguments)."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", text)
    stages: list[list[tuple[str, str]]] = []
    for line in logical.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        instruction, _, rest = stripped.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, rest.strip()))
    return stages


def image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage."""
    env: dict[str, str] = {}
    for instruction, rest in dockerfile_stages()[-1]:
        if instruction == "ENV":
            for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", rest):
                env[key] = value
    return env


def image_tradewind_env() -> dict[str, str]:
    """The TRADEWIND_* variables the image sets for every container."""
    return {k: v for k, v in image_env().items() if k.startswith("TRADEWIND_")}


def compose_file(variables: Mapping[str, str]) -> dict[str, Any]:
    """The compose file with ``variables`` interpolated."""
    return dict(interpolate(load_yaml(COMPOSE_FILE), variables))


def compose_variables() -> dict[str, str]:
    """Values for the compose file's required variables, as an operator would set them (none:
    every secret is a generated file)."""
    return {}


def compose_environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's environment (mapping or ``NAME=value`` list) as text."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def is_tradewind_image(image: str) -> bool:
    """Whether a compose image reference is Tradewind's (``tradewind:<tag>`` by default)."""
    return image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] == "tradewind"


def compose_secret_sources(compose: Mapping[str, Any], secrets_dir: Path) -> dict[str, Path]:
    """The compose file's top-level secrets, each as the file it reads, with the compose
    file's ``./secrets/`` folder replaced by ``secrets_dir`` (a generated one)."""
    sources = {}
    for name, secret in (compose.get("secrets") or {}).items():
        file = str(secret["file"])
        assert file.startswith("./secrets/"), f"secret {name} reads {file}, not ./secrets/"
        sources[str(name)] = secrets_dir / file.removeprefix("./secrets/")
    return sources


def compose_secret_mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's secrets: path in the container -> top-level secret name."""
    mounts = {}
    for entry in service.get("secrets") or []:
        if isinstance(entry, str):
            source, target = entry, entry
        else:
            source, target = str(entry["source"]), str(entry.get("target", entry["source"]))
        path = target if target.startswith("/") else f"/run/secrets/{target}"
        mounts[path] = source
    return mounts


def compose_env_files(service: Mapping[str, Any]) -> list[str]:
    """A compose service's env_file entries, as the paths the file gives."""
    raw = service.get("env_file") or []
    entries = [raw] if isinstance(raw, str | dict) else list(raw)
    return [str(e["path"]) if isinstance(e, dict) else str(e) for e in entries]


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def compose_workloads(
    compose: Mapping[str, Any], secrets_dir: Path | None = None
) -> dict[str, Workload]:
    """The Tradewind services of the compose file, by service name; their secrets are read
    from ``secrets_dir`` (default: a freshly generated one)."""
    folder = generated_compose_secrets() if secrets_dir is None else secrets_dir
    sources = compose_secret_sources(compose, folder)
    workloads = {}
    for name, service in compose["services"].items():
        if not is_tradewind_image(str(service.get("image", ""))):
            continue
        assert "entrypoint" not in service, f"{name} must keep the image's entrypoint"
        args = [str(a) for a in service["command"]]
        grace = service.get("stop_grace_period")
        from_files: dict[str, str] = {}
        for entry in compose_env_files(service):
            assert entry.startswith("./secrets/"), f"{name}: env_file {entry} is no secret"
            from_files.update(read_env_file(folder / entry.removeprefix("./secrets/")))
        environment = compose_environment(service)
        workloads[name] = Workload(
            name=name,
            component=component_of(args),
            replicas=int((service.get("deploy") or {}).get("replicas", 1)),
            args=args,
            env={**image_tradewind_env(), **from_files, **environment},
            stop_grace=parse_duration(grace) if grace is not None else None,
            secret_env=set(from_files) - set(environment),
            secret_files={
                path: sources[source].read_text(encoding="utf-8")
                for path, source in compose_secret_mounts(service).items()
            },
        )
    return workloads


# ---- generated secrets ----


def generate_secrets(
    *targets: str,
    compose_dir: Path | None = None,
    k8s_dir: Path | None = None,
    database_url: str | None = None,
    force: bool = False,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run deploy/generate_secrets.py (never on the checkout's own folders unless told)."""
    args = [sys.executable, str(GENERATE_SECRETS), *targets]
    if compose_dir is not None:
        args += ["--compose-dir", str(compose_dir)]
    if k8s_dir is not None:
        args += ["--k8s-dir", str(k8s_dir)]
    if database_url is not None:
        args += ["--database-url", database_url]
    if force:
        args.append("--force")
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def _scratch(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def copy_k8s(destination: Path) -> Path:
    """Copy deploy/k8s to ``destination`` without any generated secrets; return the copy."""
    copied = destination / "k8s"
    shutil.copytree(K8S, copied, ignore=shutil.ignore_patterns("secrets", "__pycache__"))
    return copied


@cache
def generated_k8s() -> Path:
    """A copy of deploy/k8s whose base holds freshly generated secrets (never the checkout's
    own: the tests neither read nor write deploy/k8s/base/secrets/)."""
    copied = copy_k8s(_scratch("tradewind-k8s-"))
    result = generate_secrets("k8s", k8s_dir=copied / "base" / "secrets")
    assert result.returncode == 0, result.stderr
    return copied


@cache
def generated_compose_secrets() -> Path:
    """A folder of freshly generated compose secrets (never the checkout's deploy/secrets/)."""
    folder = _scratch("tradewind-compose-") / "secrets"
    result = generate_secrets("compose", compose_dir=folder)
    assert result.returncode == 0, result.stderr
    return folder


# ---- Kubernetes ----

#: Kinds without a namespace (for the fallback kustomize loader).
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "CustomResourceDefinition",
}


def kustomization() -> dict[str, Any]:
    """deploy/k8s/base/kustomization.yaml."""
    return load_yaml(K8S_BASE / "kustomization.yaml")


def load_kustomization(base: Path | None = None) -> list[dict[str, Any]]:
    """Build the kustomization without kustomize: load every listed resource file, generate
    the Secrets of ``secretGenerator`` from their files, then apply the ``namespace`` and
    ``images`` transformers (the only fields the base uses). ``base`` defaults to the copy
    with generated secrets."""
    base = generated_k8s() / "base" if base is None else base
    spec = load_yaml(base / "kustomization.yaml")
    known = {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "images",
        "secretGenerator",
        "generatorOptions",
    }
    assert set(spec) <= known, f"the fallback loader does not know {set(spec) - known}"
    documents: list[dict[str, Any]] = []
    for entry in spec["resources"]:
        path = base / entry
        assert path.is_file(), f"kustomization.yaml lists {entry}, which is not a file"
        documents.extend(load_documents(path))
    options = spec.get("generatorOptions") or {}
    assert options.get("disableNameSuffixHash") is True, "the fallback loader adds no hash"
    for generator in spec.get("secretGenerator") or []:
        assert set(generator) <= {"name", "type", "files"}, generator
        data = {}
        for item in generator["files"]:
            key, _, file = str(item).partition("=")
            path = base / file
            assert path.is_file(), f"{file} is missing: run deploy/generate_secrets.py"
            data[key] = base64.b64encode(path.read_bytes()).decode()
        secret: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": generator["name"]},
            "type": generator.get("type", "Opaque"),
            "data": data,
        }
        if options.get("labels"):
            secret["metadata"]["labels"] = dict(options["labels"])
        documents.append(secret)
    namespace = spec.get("namespace")
    images = {image["name"]: image for image in spec.get("images", [])}
    for doc in documents:
        if namespace and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = namespace
        for container in containers(doc):
            name = re.split(r"[:@]", container["image"], maxsplit=1)[0]
            if name in images:
                image = images[name]
                new = image.get("newName", name)
                tag = image.get("newTag")
                container["image"] = f"{new}:{tag}" if tag else new
    return documents


def kustomize_command() -> list[str] | None:
    """How to run kustomize here (kubectl's built-in one, or kustomize), or None."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def run_kustomize(base: Path) -> subprocess.CompletedProcess[str] | None:
    """kustomize's build of ``base``, or None when kustomize is not installed."""
    command = kustomize_command()
    if command is None:
        return None
    return subprocess.run(
        [*command, str(base)], capture_output=True, text=True, timeout=60, check=False
    )


def render_kustomization(base: Path | None = None) -> list[dict[str, Any]] | None:
    """The kustomization as kustomize renders it, or None when kustomize is not installed.
    ``base`` defaults to the copy of the base with generated secrets."""
    result = run_kustomize(generated_k8s() / "base" if base is None else base)
    if result is None:
        return None
    assert result.returncode == 0, f"kustomize failed: {result.stderr}"
    yaml = yaml_module()
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


@cache
def manifests() -> tuple[dict[str, Any], ...]:
    """The rendered manifests: kustomize's output, or the fallback loader's."""
    rendered = render_kustomization()
    return tuple(rendered if rendered is not None else load_kustomization())


def fresh_manifests() -> list[dict[str, Any]]:
    """A copy of :func:`manifests` that a test may change."""
    return copy.deepcopy(list(manifests()))


def pod_spec(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (Deployment, StatefulSet, DaemonSet, Job), else None."""
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if doc["kind"] == "Pod":
        spec = doc["spec"]
        return spec
    return None


def containers(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every container (init containers included) of a workload."""
    spec = pod_spec(doc)
    if spec is None:
        return
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def by_kind(docs: list[dict[str, Any]] | tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    """The documents of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def secret_values(
    docs: list[dict[str, Any]] | tuple[dict[str, Any], ...],
) -> dict[str, dict[str, str]]:
    """Every Secret's keys and values (stringData and decoded data)."""
    values: dict[str, dict[str, str]] = {}
    for name, secret in by_kind(docs, "Secret").items():
        data = {k: _b64(v) for k, v in (secret.get("data") or {}).items()}
        data.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
        values[name] = data
    return values


def _b64(text: str) -> str:
    try:
        # kustomize wraps long values over several lines.
        return base64.b64decode("".join(text.split()), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise AssertionError(f"Secret data is not base64 text: {err}") from err


def secret_volume_files(
    volume: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """The files a ``secret`` or ``projected`` volume holds: path in the volume -> content
    (only Secret sources; an ``items`` list picks keys, else every key is a file)."""
    if "secret" in volume:
        sources = [{"name": volume["secret"]["secretName"], **volume["secret"]}]
    elif "projected" in volume:
        sources = [s["secret"] for s in volume["projected"]["sources"] if "secret" in s]
    else:
        return {}
    files = {}
    for source in sources:
        # A Secret the manifests do not hold (tradewind-tls: made by you): its keys are known
        # from ``items`` only, its content not at all ("").
        data = secrets.get(source["name"], {})
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            files[item["path"]] = data.get(item["key"], "")
    return files


def kubernetes_workloads(
    docs: list[dict[str, Any]] | tuple[dict[str, Any], ...],
) -> dict[str, Workload]:
    """The Tradewind containers of the manifests' Deployments and Jobs, by workload name."""
    secrets = secret_values(docs)
    workloads = {}
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = pod_spec(doc)
        assert spec is not None
        (container,) = spec["containers"]
        assert "command" not in container, f"{doc['metadata']['name']} must keep the entrypoint"
        args = [str(a) for a in container["args"]]
        env = dict(image_tradewind_env())
        secret_env = set()
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = secrets[ref["name"]][ref["key"]]
                secret_env.add(item["name"])
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        secret_files = {}
        for mount in container.get("volumeMounts", []):
            files = secret_volume_files(volumes[mount["name"]], secrets)
            for path, content in files.items():
                secret_files[f"{mount['mountPath'].rstrip('/')}/{path}"] = content
        grace = spec.get("terminationGracePeriodSeconds")
        workloads[doc["metadata"]["name"]] = Workload(
            name=doc["metadata"]["name"],
            component=component_of(args),
            replicas=int(doc["spec"].get("replicas", 1)) if doc["kind"] == "Deployment" else 1,
            args=args,
            env=env,
            stop_grace=float(grace) if grace is not None else None,
            secret_env=secret_env,
            secret_files=secret_files,
        )
    return workloads


# ---- what the services accept ----


@cache
def accepted_variables(component: str) -> frozenset[str]:
    """The TRADEWIND_* variables a command reads, from its own ``--help``."""
    args = ["db", "migrate"] if component == MIGRATE else [component]
    result = subprocess.run(
        [sys.executable, "-m", "tradewind.cli", *args, "--help"],
        env=child_environment({"COLUMNS": "200"}),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return frozenset(re.findall(r"\benv\s+(TRADEWIND_[A-Z0-9_]+)", result.stdout))
