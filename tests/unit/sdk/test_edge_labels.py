"""Edge labels (``a >> Label("x") >> b``) kept on the DAG, and chain_linear."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tradewind import (
    DAG,
    DagDefinitionError,
    EdgeModifier,
    EmptyOperator,
    Label,
    TaskGroup,
    TaskInstanceState,
    chain,
    chain_linear,
    task,
)
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.serialization import dag_definition


def edges(dag: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def ops(*ids: str) -> list[BaseOperator]:
    return [EmptyOperator(task_id=i) for i in ids]


def labels(dag: DAG) -> dict[tuple[str, str], Any]:
    return {(up, down): dag.get_edge_info(up, down).get("label") for up, down in edges(dag)}


def test_a_label_between_two_tasks_links_and_labels_the_edge() -> None:
    with DAG("labelled") as dag:
        a, b, c = ops("a", "b", "c")
        assert (a >> Label("on success") >> b) is b
        b >> c
    assert edges(dag) == {("a", "b"), ("b", "c")}
    assert dag.get_edge_info("a", "b") == {"label": "on success"}
    assert dag.get_edge_info("b", "c") == {}
    assert dag.get_edge_info("b", "a") == {}
    assert dag.get_edge_info("nowhere", "b") == {}


def test_labels_work_leftwards_and_with_lists() -> None:
    with DAG("lists") as dag:
        a, b, c, d, e = ops("a", "b", "c", "d", "e")
        c << Label("leftwards") << b
        [a, b] >> Label("both") >> d
        d >> Label("fan out") >> [e, c]
    assert labels(dag) == {
        ("b", "c"): "leftwards",
        ("a", "d"): "both",
        ("b", "d"): "both",
        ("d", "e"): "fan out",
        ("d", "c"): "fan out",
    }


def test_the_last_label_put_on_an_edge_wins() -> None:
    with DAG("relabelled") as dag:
        a, b = ops("a", "b")
        a >> Label("first") >> b
        a >> Label("second") >> b
    assert labels(dag) == {("a", "b"): "second"}


def test_one_label_links_what_is_added_on_either_side_later() -> None:
    with DAG("progressive") as dag:
        a, b, c, d = ops("a", "b", "c", "d")
        label = Label("shared")
        a >> label >> b
        label >> c
        d >> label
    assert edges(dag) == {("a", "b"), ("a", "c"), ("d", "b"), ("d", "c")}
    assert set(labels(dag).values()) == {"shared"}


def test_a_label_on_one_side_only_links_nothing() -> None:
    with DAG("dangling") as dag:
        a, _ = ops("a", "b")
        a >> Label("nowhere")
    assert edges(dag) == set()
    assert dag.edge_info == {}


def test_labels_with_task_groups_and_xcom_args() -> None:
    with DAG("nodes") as dag:

        @task
        def extract() -> int:
            return 1

        @task
        def load(value: int) -> int:
            return value

        start, end = ops("start", "end")
        with TaskGroup("group") as group:
            first, second = ops("first", "second")
            first >> second
        start >> Label("into the group") >> group >> Label("out of it") >> end
        rows = extract()
        rows >> Label("rows") >> load(rows)
    assert labels(dag) == {
        ("start", "group.first"): "into the group",
        ("group.first", "group.second"): None,
        ("group.second", "end"): "out of it",
        ("extract", "load"): "rows",
    }


def test_chain_takes_labels() -> None:
    """The form Airflow's docs show: ``chain(op1, [Label(...), Label(...)], [op2, op3], op4)``."""
    with DAG("chained") as dag:
        op1, op2, op3, op4 = ops("op1", "op2", "op3", "op4")
        chain(op1, [Label("branch one"), Label("branch two")], [op2, op3], op4)
    assert labels(dag) == {
        ("op1", "op2"): "branch one",
        ("op1", "op3"): "branch two",
        ("op2", "op4"): None,
        ("op3", "op4"): None,
    }


def test_a_label_next_to_a_label_is_refused() -> None:
    with DAG("twice"):
        (a,) = ops("a")
        first = a >> Label("one")
        with pytest.raises(DagDefinitionError, match="another edge label"):
            first >> Label("two")


def test_label_makes_an_edge_modifier() -> None:
    label = Label("text")
    assert isinstance(label, EdgeModifier)
    assert label.label == "text"
    assert repr(label) == "Label('text')"


def test_a_labelled_branch_dag_runs_and_its_labels_are_serialised() -> None:
    """Airflow's example_branch_labels, with the check choosing the error path."""

    def build(with_labels: bool) -> DAG:
        with DAG(
            "example_branch_labels", schedule="@daily", start_date=datetime(2021, 1, 1, tzinfo=UTC)
        ) as dag:
            ingest, analyse, save, describe, error, report = ops(
                "ingest", "analyse", "save", "describe", "error", "report"
            )

            @task.branch
            def check() -> str:
                return "describe"

            checked = check()
            report.trigger_rule = "none_failed_min_one_success"  # type: ignore[assignment]
            if with_labels:
                ingest >> analyse >> checked >> Label("No errors") >> save >> report
                checked >> Label("Errors found") >> describe >> error >> report
            else:
                ingest >> analyse >> checked >> save >> report
                checked >> describe >> error >> report
        return dag

    labelled = build(True)
    result = labelled.test()
    assert result.state == "success"
    assert result.task_states["save"] == TaskInstanceState.SKIPPED
    assert result.task_states["report"] == TaskInstanceState.SUCCESS
    assert labelled.get_edge_info("check", "save") == {"label": "No errors"}
    assert labelled.get_edge_info("check", "describe") == {"label": "Errors found"}
    where = {"fileloc": "x.py", "relative_fileloc": "x.py"}
    tasks = {t.task_id: t for t in dag_definition(labelled, **where).tasks}
    assert dict(tasks["save"].upstream_edge_labels) == {"check": "No errors"}
    assert dict(tasks["describe"].upstream_edge_labels) == {"check": "Errors found"}
    plain = {t.task_id: t for t in dag_definition(build(False), **where).tasks}
    assert not plain["save"].upstream_edge_labels
    # Only the labels differ: the structure is the same.
    for task_id, definition in plain.items():
        definition.upstream_edge_labels.update(tasks[task_id].upstream_edge_labels)
        assert definition == tasks[task_id]


# -- chain_linear ------------------------------------------------------------------------------


def test_chain_linear_links_every_node_to_every_node_of_the_next() -> None:
    with DAG("linear") as dag:
        op1, op2, op3, op4, op5, op6, op7 = ops("op1", "op2", "op3", "op4", "op5", "op6", "op7")
        chain_linear(op1, [op2, op3], [op4, op5, op6], op7)
    assert edges(dag) == {
        ("op1", "op2"),
        ("op1", "op3"),
        *((up, down) for up in ("op2", "op3") for down in ("op4", "op5", "op6")),
        ("op4", "op7"),
        ("op5", "op7"),
        ("op6", "op7"),
    }


def test_chain_linear_differs_from_chain_on_adjacent_lists() -> None:
    with DAG("pairwise") as paired:
        a, b, c, d = ops("a", "b", "c", "d")
        chain([a, b], [c, d])
    with DAG("all_pairs") as crossed:
        a, b, c, d = ops("a", "b", "c", "d")
        chain_linear([a, b], [c, d])
    assert edges(paired) == {("a", "c"), ("b", "d")}
    assert edges(crossed) == {("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")}


def test_chain_linear_takes_groups_and_xcom_args() -> None:
    with DAG("mixed") as dag:

        @task
        def produce() -> int:
            return 1

        (start,) = ops("start")
        with TaskGroup("group") as group:
            ops("inner")
        chain_linear(start, [group, produce()], ops("end"))
    assert edges(dag) == {
        ("start", "group.inner"),
        ("start", "produce"),
        ("group.inner", "end"),
        ("produce", "end"),
    }


@pytest.mark.parametrize(
    ("elements", "message"),
    [
        ((), "got no tasks"),
        (("one",), "set no dependency"),
        (("list",), "set no dependency"),  # chain_linear([a, b]) instead of chain_linear(*[a, b])
        (("one", "label", "two"), "does not accept edge labels"),
    ],
)
def test_chain_linear_refuses_what_airflow_refuses(elements: tuple[str, ...], message: str) -> None:
    with DAG("refused"):
        a, b = ops("a", "b")
        given: dict[str, Any] = {"one": a, "two": b, "list": [a, b], "label": Label("no")}
        with pytest.raises(DagDefinitionError, match=message) as raised:
            chain_linear(*(given[e] for e in elements))
    assert isinstance(raised.value, ValueError)
