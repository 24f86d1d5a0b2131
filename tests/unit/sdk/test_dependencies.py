"""Dependencies: >>, <<, lists, chain, cross_downstream, set_upstream, task groups."""

from __future__ import annotations

import pytest

from tradewind import (
    DAG,
    DagDefinitionError,
    EmptyOperator,
    TaskGroup,
    chain,
    cross_downstream,
    task,
    task_group,
)
from tradewind.sdk.baseoperator import BaseOperator


def edges(dag: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def ops(*ids: str) -> list[BaseOperator]:
    return [EmptyOperator(task_id=i) for i in ids]


def test_shift_operators_and_their_return_values() -> None:
    with DAG("d") as dag:
        a, b, c, d = ops("a", "b", "c", "d")
        assert (a >> b) is b
        assert (c << b) is b
        d << c
    assert edges(dag) == {("a", "b"), ("b", "c"), ("c", "d")}
    assert b.upstream_task_ids == {"a"}
    assert [t.task_id for t in c.upstream_list] == ["b"]
    assert [t.task_id for t in b.downstream_list] == ["c"]


def test_lists_on_both_sides() -> None:
    with DAG("d") as dag:
        a, b, c, d, e, f = ops("a", "b", "c", "d", "e", "f")
        a >> [b, c] >> d
        [e, f] << d  # reflected: d runs before e and f
    assert edges(dag) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("d", "f")}


def test_list_shift_reflected_forms() -> None:
    with DAG("d") as dag:
        a, b, c = ops("a", "b", "c")
        [a, b] >> c
    assert edges(dag) == {("a", "c"), ("b", "c")}


def test_set_upstream_and_downstream() -> None:
    with DAG("d") as dag:
        a, b, c = ops("a", "b", "c")
        b.set_upstream(a)
        b.set_downstream([c])
    assert edges(dag) == {("a", "b"), ("b", "c")}


def test_chain_pairs_lists_of_equal_length() -> None:
    with DAG("d") as dag:
        a, b1, b2, c1, c2, d = ops("a", "b1", "b2", "c1", "c2", "d")
        chain(a, [b1, b2], [c1, c2], d)
    assert edges(dag) == {
        ("a", "b1"),
        ("a", "b2"),
        ("b1", "c1"),
        ("b2", "c2"),
        ("c1", "d"),
        ("c2", "d"),
    }


def test_chain_refuses_lists_of_different_lengths() -> None:
    with DAG("d"):
        a, b, c = ops("a", "b", "c")
        with pytest.raises(
            DagDefinitionError, match="different lengths next to each other: 2 and 1"
        ):
            chain([a, b], [c])


def test_cross_downstream() -> None:
    with DAG("d") as dag:
        a, b, c, d = ops("a", "b", "c", "d")
        cross_downstream([a, b], [c, d])
    assert edges(dag) == {("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")}


def test_shifting_something_else_fails() -> None:
    with DAG("d"):
        (a,) = ops("a")
        with pytest.raises(DagDefinitionError, match="not 'b'"):
            a >> "b"


def test_task_group_prefixes_ids_and_links_roots_and_leaves() -> None:
    with DAG("d") as dag:
        start, end = ops("start", "end")
        with TaskGroup("extract") as extract:
            x, y, z = ops("x", "y", "z")
            x >> [y, z]
        start >> extract >> end
    assert extract.group_id == "extract"
    assert [t.task_id for t in extract.roots] == ["extract.x"]
    assert sorted(t.task_id for t in extract.leaves) == ["extract.y", "extract.z"]
    assert edges(dag) == {
        ("start", "extract.x"),
        ("extract.x", "extract.y"),
        ("extract.x", "extract.z"),
        ("extract.y", "end"),
        ("extract.z", "end"),
    }
    assert x.label == "x"
    assert x.task_group is extract


def test_nested_groups_and_prefix_off() -> None:
    with DAG("d") as dag:
        with TaskGroup("a") as a, TaskGroup("b") as b:
            (inner,) = ops("t")
        with TaskGroup("plain", prefix_group_id=False):
            (flat,) = ops("flat")
    assert inner.task_id == "a.b.t"
    assert b.group_id == "a.b"
    assert b.label == "b"
    assert flat.task_id == "flat"
    assert set(dag.task_group_dict) == {"a", "a.b", "plain"}
    assert list(a) == [inner]


def test_group_default_args_apply_to_its_tasks() -> None:
    with DAG("d", default_args={"retries": 1, "queue": "q"}):
        with TaskGroup("g", default_args={"retries": 4}):
            (inside,) = ops("inside")
        (outside,) = ops("outside")
    assert (inside.retries, inside.queue) == (4, "q")
    assert outside.retries == 1


def test_task_group_decorator_returns_group_or_function_result() -> None:
    with DAG("d") as dag:

        @task
        def one() -> int:
            return 1

        @task_group
        def grouped() -> None:
            one() >> one()

        @task_group(group_id="returning")
        def returning() -> object:
            return one()

        start, end = ops("start", "end")
        start >> grouped() >> end
        result = returning()
        grouped()  # a second call gets a suffix
    assert {"grouped", "grouped__1", "returning"} <= set(dag.task_group_dict)
    assert ("start", "grouped.one") in edges(dag)
    assert ("grouped.one__1", "end") in edges(dag)
    assert result.operator.task_id == "returning.one"


def test_task_group_outside_a_dag_fails() -> None:
    with pytest.raises(DagDefinitionError, match="outside any DAG"):
        TaskGroup("lonely")


def test_relationship_without_dags_fails() -> None:
    a, b = ops("a", "b")
    with pytest.raises(DagDefinitionError, match="belong to no DAG"):
        a >> b


def test_relationship_joins_a_dagless_task_to_the_dag() -> None:
    loose = EmptyOperator(task_id="loose")
    with DAG("d") as dag:
        (a,) = ops("a")
    a >> loose
    assert loose.dag is dag
    assert dag.has_task("loose")


def test_relationship_across_dags_fails() -> None:
    with DAG("one"):
        (a,) = ops("a")
    with DAG("two"):
        (b,) = ops("b")
    with pytest.raises(DagDefinitionError, match=r"DAG 'one', task 'a'.*another DAG \('two'\)"):
        a >> b


def test_roots_leaves_and_topological_order() -> None:
    with DAG("d") as dag:
        a, b, c, d = ops("d1", "c1", "b1", "a1")
        a >> b >> d
        a >> c >> d
    assert [t.task_id for t in dag.roots] == ["d1"]
    assert [t.task_id for t in dag.leaves] == ["a1"]
    assert [t.task_id for t in dag.topological_sort()] == ["d1", "b1", "c1", "a1"]
    assert a.get_flat_relative_ids() == {"c1", "b1", "a1"}
    assert d.get_flat_relative_ids(upstream=True) == {"d1", "c1", "b1"}
