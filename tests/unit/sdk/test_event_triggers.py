"""Event triggers for asset watchers: FileDeleteTrigger, DirectoryFileDeleteTrigger, and what
an AssetWatcher accepts and how a DAG carries it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradewind import (
    DAG,
    Asset,
    AssetWatcher,
    BaseEventTrigger,
    DirectoryFileDeleteTrigger,
    EmptyOperator,
    FileDeleteTrigger,
    FileTrigger,
)
from tradewind.sdk.serialization import dag_definition
from tradewind.sdk.triggers.base import load_trigger, serialized_trigger


async def first_event(trigger: BaseEventTrigger) -> object:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


def test_a_file_delete_trigger_takes_the_file_then_fires(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    trigger = FileDeleteTrigger(filepath=str(flag), poke_interval=0.01)

    async def scenario() -> object:
        waiting = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        flag.write_text("x")
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(scenario()) is True
    assert not flag.exists()


def test_a_directory_file_delete_trigger_fires_with_the_path_for_its_name_only(
    tmp_path: Path,
) -> None:
    (tmp_path / "other").write_text("x")
    (tmp_path / "go").write_text("x")
    trigger = DirectoryFileDeleteTrigger(directory=str(tmp_path), filename="go", poke_interval=0.01)
    payload = asyncio.run(asyncio.wait_for(first_event(trigger), 5))
    assert payload == {"filepath": str(tmp_path / "go")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


def test_event_triggers_round_trip_and_hash_by_class_and_kwargs() -> None:
    trigger = DirectoryFileDeleteTrigger(directory="/in", filename="go", poke_interval=2.0)
    classpath, kwargs_json = serialized_trigger(trigger)
    rebuilt = load_trigger(classpath, kwargs_json)
    assert isinstance(rebuilt, DirectoryFileDeleteTrigger)
    assert (rebuilt.directory, rebuilt.filename, rebuilt.poke_interval) == ("/in", "go", 2.0)
    same = BaseEventTrigger.hash(
        classpath, {"filename": "go", "directory": "/in", "poke_interval": 2.0}
    )
    assert BaseEventTrigger.hash(classpath, trigger.serialize()[1]) == same
    assert BaseEventTrigger.hash(classpath, {"filename": "stop"}) != same


def test_an_asset_watcher_needs_an_event_trigger_and_a_name() -> None:
    with pytest.raises(ValueError, match="must inherit BaseEventTrigger"):
        AssetWatcher(name="w", trigger=FileTrigger(filepath="/in/x"))
    with pytest.raises(ValueError, match="name"):
        AssetWatcher(name="", trigger=FileDeleteTrigger(filepath="/in/x"))
    twice = [AssetWatcher(name="w", trigger=FileDeleteTrigger(filepath=f"/in/{n}")) for n in "ab"]
    with pytest.raises(ValueError, match="two watchers with one name"):
        Asset("a", watchers=twice)


def test_the_watchers_of_the_schedules_assets_go_into_the_definition() -> None:
    watcher = AssetWatcher(name="flag", trigger=FileDeleteTrigger(filepath="/in/landing"))
    landing = Asset("landing", watchers=[watcher])
    produced = Asset("produced", watchers=[watcher])  # an outlet: its watchers do not run
    with DAG("w", schedule=[landing], start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        EmptyOperator(task_id="t", outlets=[produced])
    definition = dag_definition(dag, fileloc="/dags/w.py", relative_fileloc="w.py")
    (declared,) = definition.asset_watchers
    assert (declared.asset.name, declared.name) == ("landing", "flag")
    assert declared.classpath == "tradewind.sdk.triggers.file.FileDeleteTrigger"
    assert json.loads(declared.kwargs_json) == {"filepath": "/in/landing", "poke_interval": 5.0}
    assert declared.trigger_hash == BaseEventTrigger.hash(
        declared.classpath, json.loads(declared.kwargs_json)
    )
