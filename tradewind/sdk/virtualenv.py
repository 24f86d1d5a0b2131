"""Python interpreters and virtual environments for tasks that run a callable elsewhere.

``find_interpreter`` resolves ``python_version`` to a working interpreter, ``build_venv``
makes a venv (with the standard library's ``venv``, or ``uv`` when it is installed, as
Airflow does) and installs its requirements, and ``ensure_cached_venv`` keeps one venv per
``VenvSpec`` under a cache folder, built once under a file lock and reused afterwards.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tradewind.sdk.exceptions import TradewindException

#: The file that marks a cached venv as completely built; it holds the spec's fingerprint.
MARKER_NAME = "install_complete_marker.json"
#: How long probing an interpreter may take, in seconds.
PROBE_TIMEOUT_SECONDS = 60.0
#: The .pth file that makes the host's site-packages visible in a venv.
HOST_PTH_NAME = "_tradewind_host_site_packages.pth"

_VERSION_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3])"


class VirtualenvError(TradewindException):
    """A virtual environment could not be built."""


class InterpreterNotFound(VirtualenvError):
    """The Python interpreter asked for does not exist or does not run."""


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter that was found to run."""

    path: str
    #: (major, minor, micro), as the interpreter reported it.
    version: tuple[int, int, int]

    @property
    def same_minor_as_host(self) -> bool:
        """Whether it is the host's Python X.Y (so that the host's packages load in it)."""
        return self.version[:2] == tuple(sys.version_info[:2])


def probe_interpreter(path: str | os.PathLike[str]) -> Interpreter:
    """Run ``path`` as Python and read its version.

    Args:
        path: the interpreter.

    Returns:
        The interpreter.

    Raises:
        InterpreterNotFound: when it does not run or is not Python.

    """
    try:
        completed = subprocess.run(
            [os.fspath(path), "-c", _VERSION_PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise InterpreterNotFound(f"{os.fspath(path)!r} is not a runnable Python: {err}") from err
    parts = completed.stdout.strip().split(".")
    if completed.returncode != 0 or len(parts) != 3 or not all(p.isdigit() for p in parts):
        detail = (completed.stderr or completed.stdout).strip().splitlines()[:3]
        raise InterpreterNotFound(
            f"{os.fspath(path)!r} is not a working Python interpreter"
            f" (exit code {completed.returncode}): {' '.join(detail)}"
        )
    major, minor, micro = (int(part) for part in parts)
    return Interpreter(path=os.fspath(path), version=(major, minor, micro))


def find_interpreter(python_version: str | None) -> Interpreter:
    """The interpreter for ``python_version``: this one when it matches, else ``pythonX.Y``.

    Args:
        python_version: "3", "3.12", "3.12.1" or None (this interpreter).

    Returns:
        The interpreter.

    Raises:
        InterpreterNotFound: when no working interpreter of that version is on PATH.

    """
    if python_version is None or _matches(python_version, tuple(sys.version_info[:3])):
        return probe_interpreter(sys.executable)
    name = f"python{python_version}"
    found = shutil.which(name)
    if found is None:
        raise InterpreterNotFound(
            f"python_version {python_version!r}: no interpreter {name!r} found on PATH"
        )
    try:
        interpreter = probe_interpreter(found)
    except InterpreterNotFound as err:
        raise InterpreterNotFound(f"python_version {python_version!r}: {err}") from err
    if not _matches(python_version, interpreter.version):
        raise InterpreterNotFound(
            f"python_version {python_version!r}: {found!r} is Python"
            f" {'.'.join(map(str, interpreter.version))}"
        )
    return interpreter


def _matches(wanted: str, version: tuple[int, ...]) -> bool:
    parts = wanted.split(".")
    return [str(number) for number in version[: len(parts)]] == parts


@dataclass(frozen=True)
class VenvSpec:
    """What a venv is made of; two equal specs make interchangeable venvs."""

    interpreter: Interpreter
    #: Requirement lines, sorted (so that the fingerprint is stable).
    requirements: tuple[str, ...] = ()
    system_site_packages: bool = True
    pip_install_options: tuple[str, ...] = ()
    #: None: pip's own configuration; empty: no index at all; else the index and extras.
    index_urls: tuple[str, ...] | None = None
    #: An extra key that forces new venvs when changed (Airflow's cache_key Variable).
    cache_key: str = ""

    def fingerprint(self) -> str:
        """The spec as canonical JSON (written in the cached venv's marker)."""
        return json.dumps(asdict(self), sort_keys=True)

    def digest(self) -> str:
        """A short hash of the fingerprint: the cached venv's folder name."""
        return hashlib.sha256(self.fingerprint().encode()).hexdigest()[:16]


def venv_python(venv: Path) -> Path:
    """The interpreter of the venv at ``venv``."""
    return venv / "bin" / "python"


def build_venv(spec: VenvSpec, venv: Path, log: logging.Logger) -> Path:
    """Create a venv at ``venv`` (an absent or empty folder) and install its requirements.

    With ``system_site_packages`` and the host's Python X.Y, the host's site-packages (this
    process's venv, Tradewind included) are made visible after the venv's own, as Airflow's
    workers see their own packages.

    Args:
        spec: what to build.
        venv: where.
        log: the task's logger; the tools' output goes there.

    Returns:
        The venv's interpreter.

    Raises:
        VirtualenvError: when a step fails.

    """
    uv = shutil.which("uv")
    flags = ["--system-site-packages"] if spec.system_site_packages else []
    if uv is not None:
        command = [uv, "venv", "--allow-existing", "--python", spec.interpreter.path]
    else:
        # No pip inside: requirements are installed by the host's pip (--python), so an
        # empty venv costs a tenth of a second instead of seconds of ensurepip.
        command = [spec.interpreter.path, "-m", "venv", "--without-pip"]
    _run([*command, *flags, os.fspath(venv)], log)
    python = venv_python(venv)
    if spec.system_site_packages and spec.interpreter.same_minor_as_host:
        _share_host_site_packages(venv, spec.interpreter)
    if spec.requirements:
        requirements_file = venv / "requirements.txt"
        requirements_file.write_text("\n".join(spec.requirements) + "\n", encoding="utf-8")
        _run(_install_command(spec, python, requirements_file, uv), log)
    return python


def _share_host_site_packages(venv: Path, interpreter: Interpreter) -> None:
    if sys.prefix == sys.base_prefix:
        return  # --system-site-packages already shows the host's packages
    major, minor, _ = interpreter.version
    target = venv / "lib" / f"python{major}.{minor}" / "site-packages"
    folders = [folder for folder in site.getsitepackages() if os.path.isdir(folder)]
    # addsitedir (not a bare path) so that the host's own .pth files (editable installs) load.
    lines = [f"import site; site.addsitedir({folder!r})" for folder in folders]
    target.mkdir(parents=True, exist_ok=True)
    (target / HOST_PTH_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _index_options(index_urls: Sequence[str] | None) -> list[str]:
    if index_urls is None:
        return []
    if not index_urls:
        return ["--no-index"]
    first, *extra = index_urls
    options = ["--index-url", first]
    for url in extra:
        options += ["--extra-index-url", url]
    return options


def _install_command(
    spec: VenvSpec, python: Path, requirements_file: Path, uv: str | None
) -> list[str]:
    tail = [
        *_index_options(spec.index_urls),
        *spec.pip_install_options,
        "-r",
        os.fspath(requirements_file),
    ]
    if uv is not None:
        return [uv, "pip", "install", "--python", os.fspath(python), *tail]
    if importlib.util.find_spec("pip") is None:
        raise VirtualenvError("installing requirements needs pip (or uv) in the task's Python")
    return [
        sys.executable,
        "-m",
        "pip",
        "--python",
        os.fspath(python),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        *tail,
    ]


def _run(command: list[str], log: logging.Logger) -> None:
    log.info("Running: %s", " ".join(command))
    try:
        completed = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            check=False,
        )
    except OSError as err:
        raise VirtualenvError(f"could not run {command[0]!r}: {err}") from err
    for line in completed.stdout.splitlines():
        log.info("%s", line)
    if completed.returncode != 0:
        tail = "\n".join(completed.stdout.splitlines()[-20:])
        raise VirtualenvError(
            f"{' '.join(command[:3])} ... failed with exit code {completed.returncode}:\n{tail}"
        )


def ensure_cached_venv(spec: VenvSpec, cache_root: Path, log: logging.Logger) -> tuple[Path, bool]:
    """The cached venv of ``spec`` under ``cache_root``, built first if it is not there.

    A venv counts as built once its marker holds the spec's fingerprint; one without it
    (a build that died) is removed and rebuilt. An exclusive ``flock`` on ``<venv>.lock``
    makes concurrent tries, in any process on this machine, wait for one build.

    Args:
        spec: what the venv is made of.
        cache_root: the cache folder (``venv_cache_path``).
        log: the task's logger.

    Returns:
        The venv's folder and whether this call built it.

    Raises:
        VirtualenvError: when building fails (the partial venv is removed).

    """
    cache_root.mkdir(parents=True, exist_ok=True)
    venv = cache_root / f"venv-{spec.digest()}"
    fingerprint = spec.fingerprint()
    log.info("Python virtual environment will be cached in %s", venv)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        marker = venv / MARKER_NAME
        if marker.is_file() and marker.read_text(encoding="utf-8") == fingerprint:
            log.info("Reusing cached Python virtual environment in %s", venv)
            return venv, False
        if venv.exists():
            log.warning("Removing a partial or different virtual environment in %s", venv)
            shutil.rmtree(venv)
        try:
            venv.mkdir(parents=True)
            build_venv(spec, venv, log)
            marker.write_text(fingerprint, encoding="utf-8")
        except BaseException as err:
            shutil.rmtree(venv, ignore_errors=True)
            if isinstance(err, VirtualenvError):
                raise
            if isinstance(err, Exception):
                raise VirtualenvError(f"unable to create a virtual environment in {venv}") from err
            raise
        log.info("New Python virtual environment created in %s", venv)
        return venv, True
