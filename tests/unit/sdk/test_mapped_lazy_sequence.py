"""The "reduce" side of mapping: an XComArg to a mapped task resolves to a lazy sequence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind import DAG, task
from tradewind.sdk.execution import TaskOutcome, execute_task
from tradewind.sdk.lazy_sequence import LazyXComSequence
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore
from tradewind.sdk.runtime import use_runtime

from .conftest import context_for

START = datetime(2024, 1, 1, tzinfo=UTC)


class CountingRuntime(InMemoryRuntime):
    """An in-memory runtime that counts the reads of mapped XComs."""

    reads: int = 0

    def get_xcom_items(
        self, task_ids: Sequence[str], key: str, *, map_index: int | None = None
    ) -> dict[str, list[tuple[int, Any]]]:
        self.reads += 1
        return super().get_xcom_items(task_ids, key, map_index=map_index)


@pytest.fixture
def counting(store: InMemoryStore) -> Iterator[CountingRuntime]:
    # stored out of order: the sequence is in map index order all the same
    store.mapped_xcoms[("add", 2)] = {"return_value": 13}
    store.mapped_xcoms[("add", 0)] = {"return_value": 11}
    store.mapped_xcoms[("add", 1)] = {"return_value": 12}
    runtime = CountingRuntime(store=store, task_id="total")
    with use_runtime(runtime):
        yield runtime


def test_reduce_gets_the_results_in_map_index_order(store: InMemoryStore) -> None:
    received: list[Any] = []
    with DAG(dag_id="reduce", start_date=START, schedule=None):

        @task
        def add_one(x: int) -> int:
            return x + 1

        @task
        def sum_it(values: Sequence[int]) -> int:
            received.append(values)
            return sum(values)

        summed = sum_it(add_one.expand(x=[1, 2, 3]))
    store.mapped_xcoms.update(
        {("add_one", 2): {"return_value": 4}, ("add_one", 0): {"return_value": 2}}
    )
    store.mapped_xcoms[("add_one", 1)] = {"return_value": 3}
    with use_runtime(store.runtime_for("sum_it")):
        result = execute_task(summed.operator, context_for(summed.operator))
    assert result.outcome is TaskOutcome.SUCCESS
    assert result.xcoms == {"return_value": 9}
    (values,) = received
    assert isinstance(values, LazyXComSequence)
    assert values == [2, 3, 4]


def test_instances_that_pushed_nothing_are_left_out(store: InMemoryStore) -> None:
    store.mapped_xcoms.update(
        {("add", 0): {"return_value": 1}, ("add", 3): {"return_value": 4}, ("add", 1): {}}
    )
    with use_runtime(store.runtime_for("total")):
        assert list(LazyXComSequence("add", "return_value")) == [1, 4]


def test_nothing_is_read_until_first_use(counting: CountingRuntime) -> None:
    values = LazyXComSequence("add", "return_value")
    assert counting.reads == 0
    assert repr(values) == "LazyXComSequence(<unevaluated length>)"
    assert len(values) == 3
    assert values[0] == 11
    assert list(values) == [11, 12, 13]
    assert counting.reads == 1
    assert repr(values) == "LazyXComSequence([3 items])"


def test_indexing_slicing_and_comparison(counting: CountingRuntime) -> None:
    values = LazyXComSequence("add", "return_value")
    assert values[-1] == 13
    assert values[1:] == [12, 13]
    assert values[::-1] == [13, 12, 11]
    assert values == [11, 12, 13]
    assert values == (11, 12, 13)
    assert values != [11, 12]
    assert values != "abc"
    assert 12 in values
    assert values.index(13) == 2
    assert list(reversed(values)) == [13, 12, 11]
    with pytest.raises(IndexError):
        values[3]
    with pytest.raises(TypeError, match="indices must be integers or slices"):
        values["0"]  # type: ignore[call-overload]


def test_a_mapped_task_with_no_results_gives_an_empty_sequence(store: InMemoryStore) -> None:
    with use_runtime(store.runtime_for("total")):
        values = LazyXComSequence("add", "return_value")
        assert len(values) == 0
        assert values == []


def test_xcom_arg_to_a_mapped_task_resolves_lazily(counting: CountingRuntime) -> None:
    with DAG(dag_id="reduce", start_date=START, schedule=None):

        @task
        def add(x: int) -> int:
            return x

        mapped = add.expand(x=[1, 2, 3])
    resolved = mapped.resolve(context_for(mapped.operator, map_index=0))
    assert isinstance(resolved, LazyXComSequence)
    assert counting.reads == 0
    assert resolved == [11, 12, 13]


def test_unmapped_upstream_resolution_is_unchanged(store: InMemoryStore) -> None:
    store.xcoms["make"] = {"return_value": [1, 2]}
    with DAG(dag_id="reduce", start_date=START, schedule=None):

        @task
        def make() -> list[int]:
            return []

        made = make()
    with use_runtime(store.runtime_for("total")):
        assert made.resolve(context_for(made.operator)) == [1, 2]
