"""DAG processor replicas sharing files, a replica killed outright, and parse throughput."""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path

from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import (
    backend,
    dag_files,
    eventually,
    instance_id,
    start_dag_processor,
    wait_for_dags,
    write_dag_file,
)
from tests.integration.dag_processor.procfs import parent_pid

#: Seconds a replica's file leases last.
LEASE_SECONDS = 3
FILES = 50
TIMED_FILES = 100


def recording_dag(dag_id: str, record: Path) -> str:
    """A DAG file that appends ``<fork server pid> <dag id>`` to ``record`` when imported.

    Parses are forked from a replica's fork server, so the parent pid names the replica.
    """
    return f"""\
        import os
        from datetime import datetime, timezone
        from tradewind import DAG, EmptyOperator

        with open({str(record)!r}, "a") as out:
            out.write(f"{{os.getppid()}} {dag_id}\\n")

        with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):
            EmptyOperator(task_id="t")
        """


def write_all_at_once(folder: Path, sources: dict[str, str]) -> None:
    """Make every file appear in ``folder`` at the same instant (one rename of a subfolder)."""
    staging = folder.with_name(folder.name + "-staging")
    for relative, source in sources.items():
        write_dag_file(staging, relative, source)
    os.replace(staging, folder / "batch")


async def test_replicas_share_the_files_and_a_survivor_takes_over(
    client: StateClient, state_service: ServiceProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    record = tmp_path / "imports.txt"
    replicas = [
        start_dag_processor(
            state_service.address,
            folder,
            "--lease-duration",
            str(LEASE_SECONDS),
            "--scan-interval",
            "0.5",
        )
        for _ in range(2)
    ]
    try:
        ids = [await instance_id(replica) for replica in replicas]
        await _wait_until_both_take_part(client, folder)
        prefix = f"share_{state_service.port}"
        sources = {f"f{i:02d}.py": recording_dag(f"{prefix}_{i:02d}", record) for i in range(FILES)}
        write_all_at_once(folder, sources)
        await wait_for_dags(client, [f"{prefix}_{i:02d}" for i in range(FILES)], within=30)

        files = {p: f for p, f in (await dag_files(client)).items() if p.startswith("batch/")}
        assert len(files) == FILES
        owners = collections.Counter(f.lease_owner for f in files.values())
        assert set(owners) == set(ids), owners
        assert all(f.last_parsed_by == f.lease_owner for f in files.values())
        # Every file was imported once, by one replica; both replicas took part.
        imports = [line.split() for line in record.read_text().splitlines()]
        assert sorted(dag for _, dag in imports) == sorted(
            f"{prefix}_{i:02d}" for i in range(FILES)
        )
        importers = {parent_pid(int(server)) for server, _ in imports}
        assert importers == {replica.process.pid for replica in replicas if replica.process}

        victim = replicas[0]
        victim_id, survivor_id = ids
        victim.signal(signal.SIGKILL)
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            current = await dag_files(client)
            return all(
                current[p].lease_owner == survivor_id and current[p].last_parsed_by == survivor_id
                for p in files
            )

        await eventually(taken_over, within=LEASE_SECONDS + 10, what="the survivor owns all")
        takeover = time.monotonic() - killed_at
        print(
            f"\n[dag_processor {backend(state_service)}] takeover after SIGKILL:"
            f" {takeover:.2f} s (lease {LEASE_SECONDS} s)"
        )
        assert takeover < LEASE_SECONDS + 2
        assert victim_id != survivor_id
    finally:
        for replica in replicas:
            replica.stop()


async def _wait_until_both_take_part(client: StateClient, folder: Path) -> None:
    """Wait until both replicas count as live: two probe files have two different owners.

    Until then the first replica to scan would take every file as its fair share.
    """
    probes = ["probe_a.py", "probe_b.py"]
    for name in probes:
        write_dag_file(folder, name, "# not a DAG\n")

    async def split() -> bool:
        files = await dag_files(client)
        owners = {files[p].lease_owner for p in probes if p in files}
        return len(owners) == 2 and "" not in owners

    await eventually(split, what="both replicas own a probe file")
