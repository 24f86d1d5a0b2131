"""Asset watchers on real services: a file landing becomes an asset event through the
triggerer, and the DAG scheduled on the asset runs with it; pausing the DAG stops the
watcher, and a killed triggerer's watcher moves to another replica."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from protos.api.v1 import request_response_pb2 as api_rr
from tests.helpers.processes import ServiceProcess
from tests.helpers.state import StateClient
from tests.integration.dag_processor.dag_files import eventually
from tests.integration.executor.runs import RUN, register, xcom_values
from tests.integration.triggerer.conftest import start_triggerer
from tests.integration.triggerer.test_assets import events_of, wait_for_asset_runs

pytestmark = pytest.mark.usefixtures("executor")

WATCHED = """
from tradewind import Asset, AssetWatcher, DirectoryFileDeleteTrigger, FileDeleteTrigger

landing = Asset(
    "landing",
    uri="file://{inbox}/landing.flag",
    watchers=[AssetWatcher(name="flag", trigger=FileDeleteTrigger(
        filepath="{inbox}/landing.flag", poke_interval=0.2))],
)

with DAG("on_landing", schedule=[landing], start_date=START):
    @task
    def consume(*, triggering_asset_events):
        return [event.extra for event in triggering_asset_events[landing]]

    consume()
"""


async def landed(path: Path, client: StateClient, uri: str, count: int) -> list[object]:
    """Drop ``path`` and wait until the watcher took it and ``count`` events exist."""
    await asyncio.to_thread(path.write_text, "ready")

    async def taken() -> list[object] | None:
        events = await events_of(client, uri)
        gone = not await asyncio.to_thread(path.exists)
        return events if gone and len(events) >= count else None

    return await eventually(taken, within=20, what=f"{path} taken and event {count} recorded")


async def test_a_file_landing_triggers_the_dag_on_its_asset_each_time(
    client: StateClient, dags_folder: Path, triggerer: ServiceProcess, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    flag = inbox / "landing.flag"
    uri = f"file://{inbox}/landing.flag"
    await register(client, dags_folder, "watched.py", WATCHED.format(inbox=inbox), ["on_landing"])
    for number in (1, 2):
        (event, *_) = await landed(flag, client, uri, number)
        assert event.origin == "watcher"  # type: ignore[attr-defined]
        assert json.loads(event.extra_json) == {"from_trigger": True, "payload": True}  # type: ignore[attr-defined]
        runs = await wait_for_asset_runs(client, "on_landing", number)
        assert all(r.state == RUN.DAG_RUN_STATE_SUCCESS for r in runs)
        consumed = json.loads((await xcom_values(client, runs[-1], "consume"))["return_value"])
        assert consumed == [{"from_trigger": True, "payload": True}]
    assert len(await events_of(client, uri)) == 2

    # Paused, the DAG wants no watcher: a file that lands stays.
    await client.api.PauseDag(api_rr.PauseDagRequest(dag_id="on_landing"))
    await asyncio.sleep(2)
    flag.write_text("ready")
    await asyncio.sleep(2)
    assert flag.exists()
    assert len(await events_of(client, uri)) == 2
    # Unpaused, the watcher runs again and takes it.
    await client.api.UnpauseDag(api_rr.UnpauseDagRequest(dag_id="on_landing"))
    await eventually(
        lambda: _gone(flag), within=20, what="the watcher took the file after the unpause"
    )


async def _gone(path: Path) -> bool:
    return not await asyncio.to_thread(path.exists)


async def test_a_killed_triggerers_watcher_runs_on_another_and_one_trigger_serves_both_assets(
    client: StateClient,
    state_service: ServiceProcess,
    dags_folder: Path,
    triggerer: ServiceProcess,
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "shared"
    inbox.mkdir()
    source = f"""
    from tradewind import Asset, AssetWatcher, DirectoryFileDeleteTrigger

    def watched(name):
        trigger = DirectoryFileDeleteTrigger(directory="{inbox}", filename="go", poke_interval=0.2)
        return Asset(name, watchers=[AssetWatcher(name="go", trigger=trigger)])

    with DAG("on_first", schedule=[watched("first")], start_date=START):
        BashOperator(task_id="t", bash_command="true")
    with DAG("on_second", schedule=[watched("second")], start_date=START):
        BashOperator(task_id="t", bash_command="true")
    """
    await register(client, dags_folder, "shared.py", source, ["on_first", "on_second"])
    first = await landed(inbox / "go", client, "first", 1)
    second = await events_of(client, "second")
    # One trigger for both watchers (same class and kwargs): one file, both assets.
    assert len(first) == len(second) == 1
    payload = json.loads(first[0].extra_json)["payload"]  # type: ignore[attr-defined]
    assert payload == {"filepath": f"{inbox}/go"}
    # The module's triggerer holds the watcher; a second one starts, the first is killed.
    spare = start_triggerer(state_service.address, dags_folder)
    try:
        triggerer.signal(signal.SIGKILL)
        triggerer.wait()
        # The survivor takes the watcher once the dead one's lease (3 s) runs out.
        await landed(inbox / "go", client, "first", 2)
        assert len(await events_of(client, "second")) == 2
    finally:
        spare.stop()
        if triggerer.process is not None and triggerer.process.poll() is not None:
            triggerer.start().wait_serving()
    for dag_id in ("on_first", "on_second"):
        runs = await wait_for_asset_runs(client, dag_id, 1, within=30)
        assert all(r.state == RUN.DAG_RUN_STATE_SUCCESS for r in runs)


async def test_a_watchers_trigger_keeps_state_in_the_asset_state_store(
    client: StateClient, dags_folder: Path, triggerer: ServiceProcess
) -> None:
    source = """
    import asyncio

    from tradewind import Asset, AssetWatcher, BaseEventTrigger, TriggerEvent

    class Counting(BaseEventTrigger):
        def __init__(self, every=0.3):
            super().__init__()
            self.every = every

        def serialize(self):
            return f"{__name__}.Counting", {"every": self.every}

        async def run(self):
            store = self.asset_state_store[ticks]
            count = await store.aget("count", 0) + 1
            await store.aset("count", count)
            await asyncio.sleep(self.every)
            yield TriggerEvent({"count": count})

    ticks = Asset("ticks", watchers=[AssetWatcher(name="counter", trigger=Counting())])

    with DAG("on_ticks", schedule=[ticks], start_date=START):
        BashOperator(task_id="t", bash_command="true")
    """
    await register(client, dags_folder, "ticks.py", source, ["on_ticks"])

    async def three() -> list[object] | None:
        found = await events_of(client, "ticks")
        return found if len(found) >= 3 else None

    found = await eventually(three, within=30, what="three watcher events of ticks")
    counts = sorted(json.loads(e.extra_json)["payload"]["count"] for e in found)  # type: ignore[attr-defined]
    # The trigger ran again after each event and found what it stored the time before.
    assert counts[:3] == [1, 2, 3]
    await client.api.PauseDag(api_rr.PauseDagRequest(dag_id="on_ticks"))
    listed = await client.api.ListAssetState(api_rr.ListAssetStateRequest(name="ticks"))
    (entry,) = listed.entries
    assert entry.key == "count"
    assert json.loads(entry.value_json) >= 3
    assert entry.writer_kind == "watcher"
