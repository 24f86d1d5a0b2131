"""A plain (non-editable) install carries the contract, the services and the command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_every_package_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO_ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tradewind-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "protos/api/v1/service.proto",
        "protos/api/v1/service_pb2.py",
        "protos/api/v1/service_pb2.pyi",
        "protos/api/v1/service_pb2_grpc.py",
        "services/runtime/server.py",
        "tradewind/cli/__init__.py",
        "scheduler/__init__.py",
        "executor/__init__.py",
        "dag_processor/__init__.py",
    ]:
        assert expected in names, expected
    assert not any(name.startswith("tests/") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tradewind = tradewind.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
