"""One DAG processor on real files, against a real state service on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from tests.helpers.processes import ServiceProcess, health_status
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import (
    dag_files,
    dags,
    eventually,
    import_errors,
    start_dag_processor,
    wait_for_dags,
    wait_for_import_error,
    write_dag_file,
)

#: Seconds a parse may take before it is killed.
PARSE_TIMEOUT = 2
MEMORY_LIMIT_MB = 300

HEADER = """\
from datetime import datetime, timezone
from tradewind import DAG, EmptyOperator, task
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""

THREE_DAGS = (
    HEADER
    + """
with DAG("three_a", schedule=None, start_date=START):
    EmptyOperator(task_id="only")

with DAG("three_b", schedule="@daily", start_date=START, tags=["b"]):
    EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")

@task
def hello() -> str:
    return "hi"

with DAG("three_c", schedule=None, start_date=START):
    hello()
"""
)


def simple_dag(dag_id: str) -> str:
    """A file defining one DAG with one task."""
    return HEADER + f'\nwith DAG("{dag_id}", schedule=None, start_date=START):\n'


def one_task_dag(dag_id: str) -> str:
    """A file defining one DAG with one task."""
    return simple_dag(dag_id) + '    EmptyOperator(task_id="t")\n'


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory, state_service: ServiceProcess) -> Path:
    folder = tmp_path_factory.mktemp("dags")
    write_dag_file(folder, ".airflowignore", "# scratch files\n^ignored_\nscratch/\n")
    return folder


@pytest.fixture(scope="module")
def processor(state_service: ServiceProcess, dags_folder: Path) -> Iterator[ServiceProcess]:
    process = start_dag_processor(
        state_service.address,
        dags_folder,
        "--parse-timeout",
        str(PARSE_TIMEOUT),
        "--parse-memory-limit-mb",
        str(MEMORY_LIMIT_MB),
    )
    yield process
    process.stop()


async def test_a_file_with_three_dags_registers_all_three(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    write_dag_file(dags_folder, "three.py", THREE_DAGS)
    found = await wait_for_dags(client, ["three_a", "three_b", "three_c"])
    assert {d: found[d].task_count for d in found} == {"three_a": 1, "three_b": 2, "three_c": 1}
    assert {d.relative_fileloc for d in found.values()} == {"three.py"}
    assert list(found["three_b"].schedule.cron_trigger.expressions) == ["0 0 * * *"]
    assert list(found["three_b"].tags) == ["b"]
    record = (await dag_files(client))["three.py"]
    assert sorted(record.dag_ids) == ["three_a", "three_b", "three_c"]
    assert not record.has_import_error
    assert record.last_parsed_by == record.lease_owner != ""


async def test_a_syntax_error_is_an_import_error_with_its_line(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    write_dag_file(dags_folder, "syntax.py", HEADER + "\n\ndef broken(:\n    pass\n")
    error = await wait_for_import_error(client, "syntax.py")
    assert error.message.startswith("SyntaxError")
    assert error.line_number == 6
    assert error.filename == str(dags_folder / "syntax.py")
    assert "SyntaxError" in error.stacktrace
    assert error.processor_id != ""
    assert (await dag_files(client))["syntax.py"].has_import_error


async def test_an_exception_at_import_is_an_import_error_with_its_traceback(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    source = HEADER + "\ndef load():\n    raise LookupError('no such table: users')\n\nload()\n"
    write_dag_file(dags_folder, "raises.py", source)
    error = await wait_for_import_error(client, "raises.py")
    assert error.message == "LookupError: no such table: users (line 6)"
    assert "raise LookupError" in error.stacktrace
    assert 'raises.py", line 8' in error.stacktrace


async def test_a_hanging_file_times_out_and_the_others_still_parse(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    write_dag_file(dags_folder, "hangs.py", HEADER + "\nwhile True:\n    pass\n")
    write_dag_file(dags_folder, "beside_hang.py", one_task_dag("beside_hang"))
    await wait_for_dags(client, ["beside_hang"], within=PARSE_TIMEOUT + 5)
    # The neighbour was registered without waiting for the hanging parse to be killed.
    assert "hangs.py" not in await import_errors(client)
    error = await wait_for_import_error(client, "hangs.py", within=PARSE_TIMEOUT + 10)
    assert "timed out" in error.message
    assert f"{PARSE_TIMEOUT} s" in error.message
    # The processor keeps working after the kill: a file written later parses too.
    write_dag_file(dags_folder, "after_hang.py", one_task_dag("after_hang"))
    await wait_for_dags(client, ["after_hang"], within=PARSE_TIMEOUT + 5)
    (dags_folder / "hangs.py").unlink()


async def test_a_cycle_is_an_import_error_naming_dag_and_tasks(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    source = (
        simple_dag("cyclic")
        + '    a = EmptyOperator(task_id="a")\n'
        + '    b = EmptyOperator(task_id="b")\n'
        + "    a >> b >> a\n"
    )
    write_dag_file(dags_folder, "cycle.py", source)
    error = await wait_for_import_error(client, "cycle.py")
    assert "cycle" in error.message.lower()
    assert "cyclic" in error.message
    assert "cyclic" not in await dags(client)


async def test_duplicate_task_ids_are_an_import_error(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    source = (
        simple_dag("duplicated")
        + '    EmptyOperator(task_id="same")\n'
        + '    EmptyOperator(task_id="same")\n'
    )
    write_dag_file(dags_folder, "duplicate.py", source)
    error = await wait_for_import_error(client, "duplicate.py")
    assert error.message.startswith("DuplicateTaskId")
    assert "same" in error.message
    assert "duplicated" in error.message
    assert error.line_number == 7


async def test_fixing_a_file_clears_its_error(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    write_dag_file(dags_folder, "fixed.py", HEADER + "\nimport no_such_module_anywhere\n")
    error = await wait_for_import_error(client, "fixed.py")
    assert error.message.startswith("ModuleNotFoundError")
    write_dag_file(dags_folder, "fixed.py", one_task_dag("fixed"))
    await wait_for_dags(client, ["fixed"])

    async def cleared() -> bool:
        return "fixed.py" not in await import_errors(client)

    await eventually(cleared, what="the import error of fixed.py cleared")
    assert not (await dag_files(client))["fixed.py"].has_import_error


async def test_deleting_a_file_deactivates_its_dags(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    path = write_dag_file(dags_folder, "doomed.py", one_task_dag("doomed"))
    await wait_for_dags(client, ["doomed"])
    path.unlink()

    async def deactivated() -> bool:
        every = await dags(client, include_inactive=True)
        return "doomed" in every and not every["doomed"].is_active

    await eventually(deactivated, what="doomed deactivated")
    assert "doomed" not in await dags(client)
    assert "doomed.py" not in await dag_files(client)


async def test_a_file_eating_memory_fails_and_the_processor_stays_healthy(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    source = HEADER + "\nhoard = []\nwhile True:\n    hoard.append(bytearray(16 * 1024 * 1024))\n"
    write_dag_file(dags_folder, "hog.py", source)
    error = await wait_for_import_error(client, "hog.py", within=PARSE_TIMEOUT + 10)
    assert error.message.startswith("MemoryError"), error.message
    assert health_status(processor.address) == health_pb2.HealthCheckResponse.SERVING
    write_dag_file(dags_folder, "after_hog.py", one_task_dag("after_hog"))
    await wait_for_dags(client, ["after_hog"])
    (dags_folder / "hog.py").unlink()


async def test_ignored_files_are_never_parsed(
    client: StateClient, processor: ServiceProcess, dags_folder: Path
) -> None:
    write_dag_file(dags_folder, "ignored_dag.py", one_task_dag("ignored_one"))
    write_dag_file(dags_folder, "scratch/nested.py", one_task_dag("ignored_two"))
    write_dag_file(dags_folder, "sub/kept.py", one_task_dag("kept"))
    # The ignored files were written first: once the later file is in, they were scanned too.
    await wait_for_dags(client, ["kept"])
    files = await dag_files(client)
    assert "sub/kept.py" in files
    assert not {"ignored_dag.py", "scratch/nested.py"} & set(files)
    assert not {"ignored_one", "ignored_two"} & set(await dags(client, include_inactive=True))


async def test_a_processor_with_a_team_gives_its_folders_dags_that_team(
    client: StateClient, state_service: ServiceProcess, tmp_path: Path
) -> None:
    write_dag_file(tmp_path, "owned.py", one_task_dag("owned_by_ops"))
    process = start_dag_processor(state_service.address, tmp_path, "--team", "ops")
    try:
        found = await wait_for_dags(client, ["owned_by_ops"])
        assert found["owned_by_ops"].team == "ops"
    finally:
        process.stop()
