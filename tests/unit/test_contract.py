"""The protobuf contract: generated code in step, buf lint clean, conventions held."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_FILES = sorted(REPO_ROOT.glob("protos/*/v1/*.proto"))


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run the README's test command, which installs it"
    return found


def file_descriptor(proto: Path) -> FileDescriptor:
    module = ".".join(proto.relative_to(REPO_ROOT).with_suffix("").parts) + "_pb2"
    return importlib.import_module(module).DESCRIPTOR  # type: ignore[no-any-return]


def all_messages(descriptor: Descriptor) -> list[Descriptor]:
    nested = [m for n in descriptor.nested_types for m in all_messages(n)]
    return [descriptor, *nested]


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_is_clean() -> None:
    result = subprocess.run(
        [tool("buf"), "lint"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_area_has_the_three_standard_files() -> None:
    for service_file in REPO_ROOT.glob("protos/*/v1/service.proto"):
        assert (service_file.parent / "request_response.proto").exists(), service_file


@pytest.mark.parametrize("proto", PROTO_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_package_names_follow_the_layout(proto: Path) -> None:
    area = proto.parent.parent.name
    assert file_descriptor(proto).package == f"tradewind.{area}.v1"


@pytest.mark.parametrize("proto", PROTO_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_times_are_timestamps_and_durations(proto: Path) -> None:
    for top in file_descriptor(proto).message_types_by_name.values():
        for message in all_messages(top):
            for field in message.fields:
                name = field.name
                is_time = name.endswith(("_at", "_date", "_time")) or name in ("time", "timestamp")
                is_span = name.endswith(("_delay", "_timeout", "_duration")) or name in (
                    "duration",
                    "wait",
                )
                if not (is_time or is_span):
                    continue
                assert field.type == FieldDescriptor.TYPE_MESSAGE, f"{message.full_name}.{name}"
                expected = "google.protobuf.Timestamp" if is_time else "google.protobuf.Duration"
                actual = field.message_type.full_name if field.message_type else None
                assert actual == expected, f"{message.full_name}.{name}"


def test_every_rpc_has_its_own_request_and_response() -> None:
    for service_file in REPO_ROOT.glob("protos/*/v1/service.proto"):
        for service in file_descriptor(service_file).services_by_name.values():
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request"
                assert method.output_type.name == f"{method.name}Response"
