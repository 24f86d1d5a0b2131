"""@asset and @asset.multi as Airflow 3 documents them: an asset and the one-task DAG that
materialises it, inlets from the function's parameters; DAG files written as Airflow's docs
write them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tradewind import DAG, Asset, AssetAll
from tradewind.sdk.loader import load_dags_from_file

ASSETS = """
from tradewind import Asset, asset, task


@asset(schedule="@daily", uri="s3://lake/raw_quotes", extra={"team": "quant"})
def raw_quotes(self, context, outlet_events):
    outlet_events[self].extra = {"rows": 3}
    return {"uri": self.uri, "run_id": context["run_id"]}


@asset(schedule=[raw_quotes])
def quote_report(raw_quotes, self, outlet_events, limit=10):
    return raw_quotes.uri, limit


@asset.multi(schedule=None, outlets=[Asset("left"), Asset("right")], tags=["pair"])
def both_sides():
    return "done"


@asset(schedule=None, name="via_task")
@task(retries=3)
def made_by_task():
    return 1
"""


def load(tmp_path: Path, source: str) -> dict[str, DAG]:
    path = tmp_path / "assets.py"
    path.write_text(textwrap.dedent(source))
    loaded = load_dags_from_file(path, dags_folder=tmp_path)
    if loaded.error is not None:
        raise AssertionError(loaded.error.message)
    return {dag.dag_id: dag for dag in loaded.dags}


def test_each_asset_is_a_dag_that_materialises_it(tmp_path: Path) -> None:
    dags = load(tmp_path, ASSETS)
    assert sorted(dags) == ["both_sides", "quote_report", "raw_quotes", "via_task"]
    (raw,) = dags["raw_quotes"].tasks
    (produced,) = raw.outlets
    assert isinstance(produced, Asset)
    assert (produced.name, produced.uri, produced.extra) == (
        "raw_quotes",
        "s3://lake/raw_quotes",
        {"team": "quant"},
    )
    assert raw.task_id == "raw_quotes"
    assert raw.inlets == []
    assert dags["raw_quotes"].catchup is False
    (report,) = dags["quote_report"].tasks
    # Parameters without a default name the inlets; self, context, outlet_events do not.
    assert [(type(i).__name__, i.name) for i in report.inlets] == [("AssetNameRef", "raw_quotes")]
    scheduled_on = dags["quote_report"].schedule_spec.assets
    assert scheduled_on is not None
    assert [a.name for a in scheduled_on.iter_assets()] == ["raw_quotes"]


def test_multi_makes_one_task_producing_every_outlet(tmp_path: Path) -> None:
    dags = load(tmp_path, ASSETS)
    (both,) = dags["both_sides"].tasks
    assert [a.name for a in both.outlets] == ["left", "right"]
    assert set(dags["both_sides"].tags) == {"pair"}


def test_a_task_decorated_function_keeps_its_task_arguments(tmp_path: Path) -> None:
    (tasked,) = load(tmp_path, ASSETS)["via_task"].tasks
    assert tasked.task_id == "made_by_task"
    assert tasked.retries == 3
    assert [a.name for a in tasked.outlets] == ["via_task"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("@asset(schedule=None)\ndef spread(**kwargs):\n    pass\n", "wildcard '**kwargs'"),
        (
            "def outer():\n    @asset(schedule=None)\n    def inner():\n        pass\n\nouter()\n",
            "nested function not supported",
        ),
        ("@asset.multi(schedule=None, outlets=[])\ndef nothing():\n    pass\n", "no outlets"),
    ],
)
def test_what_asset_refuses(tmp_path: Path, source: str, problem: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from tradewind import asset\n\n" + source)
    loaded = load_dags_from_file(path, dags_folder=tmp_path)
    assert loaded.error is not None
    assert problem in loaded.error.message


def test_an_asset_runs_in_dag_test_with_itself_and_its_outlet_events(tmp_path: Path) -> None:
    dag = load(tmp_path, ASSETS)["raw_quotes"]
    result = dag.test()
    assert result.task_states == {"raw_quotes": "success"}
    assert result.xcom("raw_quotes")["uri"] == "s3://lake/raw_quotes"


def test_the_multi_asset_stands_for_all_of_them_in_a_schedule(tmp_path: Path) -> None:
    dags = load(
        tmp_path,
        ASSETS
        + """
@asset(schedule=both_sides)
def after_both():
    pass
""",
    )
    condition = dags["after_both"].schedule_spec.assets
    assert isinstance(condition, AssetAll)
    assert [a.name for a in condition.iter_assets()] == ["left", "right"]
