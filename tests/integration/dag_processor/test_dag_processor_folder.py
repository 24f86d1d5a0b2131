"""A DAG folder that disappears (an unmounted volume) and comes back.

In a module of its own, so no processor of another test still counts as live (a stopped
replica keeps its share of the files until its instance record expires).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import (
    dags,
    eventually,
    start_dag_processor,
    wait_for_dags,
    write_dag_file,
)

ONE_TASK = """\
from datetime import datetime, timezone
from tradewind import DAG, EmptyOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    EmptyOperator(task_id="t")
"""


async def test_a_vanished_dag_folder_deactivates_nothing_until_it_is_back(
    client: StateClient, state_service: ServiceProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    prefix = f"mounted_{state_service.port}"
    for name in ("kept", "deleted_meanwhile"):
        write_dag_file(folder, f"{name}.py", ONE_TASK.format(dag_id=f"{prefix}_{name}"))
    processor = start_dag_processor(state_service.address, folder)
    try:
        ids = [f"{prefix}_kept", f"{prefix}_deleted_meanwhile"]
        await wait_for_dags(client, ids)
        unmounted = tmp_path / "unmounted"
        os.replace(folder, unmounted)
        await asyncio.sleep(1.0)  # five scans of a missing folder
        assert set(ids) <= set(await dags(client))
        (unmounted / "deleted_meanwhile.py").unlink()
        os.replace(unmounted, folder)

        async def only_the_deleted_one_retired() -> bool:
            every = await dags(client, include_inactive=True)
            return every[ids[0]].is_active and not every[ids[1]].is_active

        await eventually(only_the_deleted_one_retired, what="the deleted file's DAG retired")
    finally:
        processor.stop()
