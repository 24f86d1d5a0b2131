"""Parse throughput: 100 simple DAG files, parsed and registered by one fresh processor.

In a module of its own, so no processor of another test still counts as live (a stopped
replica keeps its share of the files until its instance record expires).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import (
    backend,
    dag_files,
    start_dag_processor,
    wait_for_dags,
    write_dag_file,
)

TIMED_FILES = 100


async def test_parse_time_of_a_hundred_files(
    client: StateClient, state_service: ServiceProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    prefix = f"timed_{state_service.port}"
    for i in range(TIMED_FILES):
        write_dag_file(
            folder,
            f"timed_{i:03d}.py",
            f"""\
            from datetime import datetime, timezone
            from tradewind import DAG, EmptyOperator, task

            @task
            def double(x: int) -> int:
                return 2 * x

            with DAG("{prefix}_{i:03d}", schedule="@daily",
                     start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
                EmptyOperator(task_id="start") >> double({i}) >> EmptyOperator(task_id="end")
            """,
        )
    started = time.monotonic()
    processor = start_dag_processor(state_service.address, folder)
    serving = time.monotonic()
    try:
        await wait_for_dags(client, [f"{prefix}_{i:03d}" for i in range(TIMED_FILES)], within=60)
        done = time.monotonic()
        files = [f for p, f in (await dag_files(client)).items() if p.startswith("timed_")]
        per_file = [f.last_parse_duration.ToTimedelta().total_seconds() for f in files]
        print(
            f"\n[dag_processor {backend(state_service)}] {TIMED_FILES} files parsed and"
            " registered in"
            f" {done - serving:.2f} s after the processor served ({done - started:.2f} s with its"
            f" start); per-file import median"
            f" {statistics.median(per_file) * 1000:.1f} ms, max {max(per_file) * 1000:.1f} ms"
        )
    finally:
        processor.stop()
