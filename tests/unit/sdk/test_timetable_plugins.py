"""A user's timetable must live in the plugins folder under the module name the scheduler
imports it by; otherwise the DAG gets an import error saying so."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradewind.sdk.timetables import schedule_message

PLUGIN = """
from tradewind import Timetable


class Nightly(Timetable):
    def serialize(self):
        return {"hour": 2}
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "nightly_tt.py").write_text(PLUGIN)
    monkeypatch.setenv("TRADEWIND_PLUGINS_FOLDER", str(folder))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in ("nightly_tt", "plugins.nightly_tt", "plugins"):
        sys.modules.pop(name, None)


def test_a_timetable_from_the_plugins_folder_is_carried_by_class_path(plugins: Path) -> None:
    module = importlib.import_module("nightly_tt")
    message = schedule_message(module.Nightly())
    assert message.custom.class_path == "nightly_tt.Nightly"
    assert message.custom.serialized_json == '{"hour": 2}'


def test_the_same_file_imported_by_another_name_is_refused(plugins: Path) -> None:
    module = importlib.import_module("plugins.nightly_tt")
    with pytest.raises(ValueError, match=r"imported as module 'plugins\.nightly_tt'"):
        schedule_message(module.Nightly())


def test_without_a_plugins_folder_a_users_timetable_is_refused(
    plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module("nightly_tt")
    monkeypatch.delenv("TRADEWIND_PLUGINS_FOLDER")
    with pytest.raises(ValueError, match="no plugins folder is set"):
        schedule_message(module.Nightly())
