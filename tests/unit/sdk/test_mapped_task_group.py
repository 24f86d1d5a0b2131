"""Mapped task groups (Airflow's ``@task_group ... .expand``): authoring, serialising, running."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from core.mapping import LengthSpec
from tradewind import DAG, task, task_group
from tradewind.sdk.exceptions import DagDefinitionError
from tradewind.sdk.serialization import dag_definition
from tradewind.testing import run_dag

START = datetime(2026, 1, 1)


@task
def make() -> list[int]:
    return [1, 2, 3]


@task_group
def pipeline(number: int, offset: int = 0) -> Any:
    @task
    def double(value: int) -> int:
        return 2 * value

    @task
    def shift(value: int, by: int) -> int:
        return value + by

    return shift(double(number), offset)


@task
def total(values: list[int]) -> int:
    return sum(values)


def test_every_task_of_a_mapped_group_is_mapped_with_the_groups_length() -> None:
    with DAG("g", schedule=None, start_date=START) as dag:
        total(pipeline.partial(offset=100).expand(number=make()))
    double, shift = dag.task_dict["pipeline.double"], dag.task_dict["pipeline.shift"]
    assert double.is_mapped
    assert shift.is_mapped
    assert not dag.task_dict["total"].is_mapped
    assert double.map_length_spec() == LengthSpec("upstream", task_id="make")
    assert double.upstream_task_ids == {"make"}  # the group's roots wait for its input
    definition = {t.task_id: t for t in dag_definition(dag, fileloc="", relative_fileloc="").tasks}
    assert definition["pipeline.shift"].mapped_group_id == "pipeline"
    assert definition["pipeline.shift"].map_length.upstream_task_id == "make"
    assert not definition["total"].HasField("map_length")


def test_each_index_goes_through_the_group_and_the_reduce_sees_them_in_order() -> None:
    with DAG("g", schedule=None, start_date=START) as dag:
        total(pipeline.partial(offset=100).expand(number=make()))
    result = run_dag(dag)
    assert result.state == "success"
    assert result.xcom("pipeline.double") == [2, 4, 6]
    assert result.xcom("pipeline.shift") == [102, 104, 106]
    assert result.xcom("total") == 312


def test_expand_kwargs_and_literals_map_a_group_too() -> None:
    with DAG("g", schedule=None, start_date=START) as dag:
        total(pipeline.expand_kwargs([{"number": 1, "offset": 10}, {"number": 5, "offset": 0}]))
    assert run_dag(dag).xcom("pipeline.shift") == [12, 10]
    with DAG("h", schedule=None, start_date=START) as crossed:
        total(pipeline.expand(number=[1, 2], offset=[0, 1]))
    assert run_dag(crossed).xcom("pipeline.shift") == [2, 3, 4, 5]


def test_a_failing_index_stops_only_its_own_path_through_the_group() -> None:
    @task_group
    def fragile(number: int) -> Any:
        @task
        def check(value: int) -> int:
            if value == 2:
                raise ValueError("2 is not allowed")
            return value

        @task
        def keep(value: int) -> int:
            return value

        return keep(check(number))

    with DAG("g", schedule=None, start_date=START) as dag:
        fragile.expand(number=[1, 2, 3])
    result = run_dag(dag)
    assert result.map_states["fragile.check"] == ["success", "failed", "success"]
    assert result.map_states["fragile.keep"] == ["success", "upstream_failed", "success"]
    assert result.state == "failed"


def test_a_mapped_group_is_checked_as_airflow_checks_it() -> None:
    with DAG("g", schedule=None, start_date=START):
        with pytest.raises(TypeError, match="requires at least one argument"):
            pipeline.expand()
        with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
            pipeline.expand(nope=[1])
        with pytest.raises(ValueError, match="unexpected type 'int'"):
            pipeline.expand(number=3)
        with pytest.raises(TypeError, match="also given to partial"):
            pipeline.partial(number=1).expand(number=[1])
        with pytest.raises(TypeError, match="expects a list"):
            pipeline.expand_kwargs({"number": 1})

    @task_group
    def nested(number: int) -> None:
        @task
        def inner(value: int) -> int:
            return value

        inner.expand(value=[number])

    with (
        DAG("n", schedule=None, start_date=START),
        pytest.raises(DagDefinitionError, match="not supported"),
    ):
        nested.expand(number=[1, 2])
