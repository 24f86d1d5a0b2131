"""Airflow's setup/teardown rules over a DAG's structure (core.setup_teardown)."""

from __future__ import annotations

from core.setup_teardown import SetupTeardownGraph, Shape


def graph(
    tasks: dict[str, list[str]],
    *,
    setups: tuple[str, ...] = (),
    teardowns: tuple[str, ...] = (),
    failing: tuple[str, ...] = (),
) -> SetupTeardownGraph:
    return SetupTeardownGraph(
        {
            t: Shape(
                upstream=frozenset(ups),
                is_setup=t in setups,
                is_teardown=t in teardowns,
                on_failure_fail_dagrun=t in failing,
            )
            for t, ups in tasks.items()
        }
    )


#: create >> a >> b >> delete (delete the teardown of create), and c after delete.
CLUSTER = {"create": [], "a": ["create"], "b": ["a"], "delete": ["create", "b"], "c": ["delete"]}


def test_a_task_inside_a_setups_scope_depends_on_it_indirectly() -> None:
    shapes = graph(CLUSTER, setups=("create",), teardowns=("delete",))
    assert shapes.relevant_setups("b") == {"create"}
    assert shapes.indirect_setups("b") == {"create"}
    assert shapes.indirect_setups("a") == set()  # a direct upstream, not indirect
    assert shapes.indirect_setups("delete") == set()  # teardowns have no setup constraint
    assert shapes.relevant_setups("c") == set()  # past the teardown: out of scope
    assert shapes.direct_setups("delete") == {"create"}


def test_a_setup_without_teardown_reaches_everything_downstream() -> None:
    shapes = graph({"s": [], "x": ["s"], "y": ["x"]}, setups=("s",))
    assert shapes.indirect_setups("y") == {"s"}


def test_teardowns_do_not_decide_the_run_unless_they_must() -> None:
    shapes = graph(CLUSTER, setups=("create",), teardowns=("delete",))
    assert shapes.run_deciders() == ["b", "c"]  # b has only the teardown downstream
    chain = {"create": [], "work": ["create"], "delete": ["create", "work"]}
    assert graph(chain, setups=("create",), teardowns=("delete",)).run_deciders() == ["work"]
    strict = graph(chain, setups=("create",), teardowns=("delete",), failing=("delete",))
    assert strict.run_deciders() == ["delete"]
    only = graph({"t": []}, teardowns=("t",))
    assert only.run_deciders() == ["t"]  # a DAG of teardowns only: its leaves decide


def test_a_clear_takes_relevant_setups_and_their_teardowns() -> None:
    shapes = graph(CLUSTER, setups=("create",), teardowns=("delete",))
    assert shapes.cleared_with(["b"], include_downstream=False) == {"create", "delete"}
    assert shapes.cleared_with(["create"], include_downstream=False) == {"delete"}
    assert shapes.cleared_with(["create"], include_downstream=True) == set()
    assert shapes.cleared_with(["c"], include_downstream=False) == set()
    assert shapes.cleared_with(["unknown"], include_downstream=False) == set()


def test_without_setups_nothing_changes() -> None:
    shapes = graph({"a": [], "b": ["a"]})
    assert not shapes.has_setups
    assert shapes.run_deciders() == ["b"]
    assert shapes.indirect_setups("b") == set()
