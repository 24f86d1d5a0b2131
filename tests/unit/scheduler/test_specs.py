"""The scheduler's spec cache stays bounded; the latency metric reads the run's own version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.convert import task_specs
from scheduler.decisions import TaskSpec
from scheduler.specs import SpecCache, upstream_end_to_queued
from tradewind.sdk.loader import load_dags_from_file
from tradewind.sdk.serialization import dag_definition
from tradewind.testing import task_spec

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "dags"


def test_the_cache_drops_the_least_recently_used_version() -> None:
    cache = SpecCache(capacity=2)
    cache.put("v1", {})
    cache.put("v2", {})
    assert cache.get("v1") == {}  # v1 is now the most recent
    cache.put("v3", {})
    assert len(cache) == 2
    assert cache.get("v2") is None
    assert cache.missing(["v1", "v2", "v3"]) == ["v2"]


def test_a_thousand_versions_never_grow_the_cache_past_its_capacity() -> None:
    cache = SpecCache(capacity=16)
    for version in range(1000):
        cache.put(f"v{version}", {"t": TaskSpec(task_id="t")})
    assert len(cache) == 16


def test_the_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SpecCache(capacity=0)


def test_latency_uses_the_upstream_of_the_runs_own_version() -> None:
    """Two DAGs with a task "load": only the run's own DAG says what is upstream of it."""
    this_dag = {
        "extract": TaskSpec(task_id="extract"),
        "load": TaskSpec(task_id="load", upstream=frozenset({"extract"})),
    }
    ends = {"extract": NOW, "other": NOW - timedelta(seconds=50)}
    latency = upstream_end_to_queued(this_dag, ends, "load", NOW + timedelta(milliseconds=20))
    assert latency == pytest.approx(0.02)
    assert upstream_end_to_queued(this_dag, ends, "extract", NOW) is None
    assert upstream_end_to_queued(this_dag, ends, "gone", NOW) is None


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_dag_test_decides_on_the_same_specs_as_the_deployed_scheduler(path: Path) -> None:
    """tradewind.testing reads specs from the tasks as written; the scheduler from the wire."""
    loaded = load_dags_from_file(path, dags_folder=EXAMPLES)
    assert loaded.error is None
    assert loaded.dags
    for dag in loaded.dags:
        wire = task_specs(dag_definition(dag, fileloc=str(path), relative_fileloc=path.name))
        assert {t: task_spec(task) for t, task in dag.task_dict.items()} == wire
