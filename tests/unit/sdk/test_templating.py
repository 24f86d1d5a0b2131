"""Templated fields rendered with the Airflow context names, and build_context itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradewind import DAG, BashOperator, Connection, PythonOperator, TemplateRenderError
from tradewind.sdk.context import build_context
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore
from tradewind.sdk.runtime import use_runtime
from tradewind.sdk.templating import render_template_fields

from .conftest import LOGICAL_DATE, context_for


def bash(command: str, dag: DAG | None = None, **kwargs: object) -> BashOperator:
    with dag or DAG("d", params={"table": "sales", "limit": 5}):
        return BashOperator(task_id="t", bash_command=command, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ ds }}", "2024-03-15"),
        ("{{ ds_nodash }}", "20240315"),
        ("{{ ts }}", "2024-03-15T06:30:00+00:00"),
        ("{{ ts_nodash }}", "20240315T063000"),
        ("{{ logical_date.year }}", "2024"),
        ("{{ data_interval_start | ds }}", "2024-03-14"),
        ("{{ data_interval_end.isoformat() }}", "2024-03-15T06:30:00+00:00"),
        ("{{ run_id }}", "run_1"),
        ("{{ dag_run.run_id }} {{ dag_run.conf['x'] }}", "run_1 1"),
        ("{{ ti.task_id }} {{ ti.try_number }} {{ task_instance.dag_id }}", "t 1 d"),
        ("{{ task.task_id }} {{ dag.dag_id }}", "t d"),
        ("{{ params.table }} {{ params.limit }}", "sales 9"),
        ("{{ conf.x }}", "1"),
        ("{{ macros.ds_add(ds, 7) }}", "2024-03-22"),
        ("{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}", "15/03/2024"),
        ("{{ (macros.datetime(2024, 1, 1) + macros.timedelta(days=1)).day }}", "2"),
        ("{{ var.value.region }} {{ var.json.cfg.n }}", "eu 3"),
        ("{{ var.value.get('missing', 'fallback') }}", "fallback"),
        ("{{ conn.db.host }}", "db.example"),
    ],
)
def test_context_names(template: str, expected: str, store: InMemoryStore) -> None:
    store.variables.update({"region": "eu", "cfg": '{"n": 3}'})
    store.add_connection(Connection(conn_id="db", conn_type="postgres", host="db.example"))
    op = bash(template)
    context = context_for(
        op,
        conf={"x": 1, "limit": 9},
        data_interval_start=datetime(2024, 3, 14, 6, 30, tzinfo=UTC),
    )
    with use_runtime(store.runtime_for("t")):
        render_template_fields(op, context)
    assert op.bash_command == expected


def test_nested_structures_are_rendered(runtime: InMemoryRuntime) -> None:
    with DAG("d"):
        op = PythonOperator(
            task_id="t",
            python_callable=print,
            op_args=["{{ ds }}", 5, ("{{ run_id }}",)],
            op_kwargs={"a": {"b": ["{{ ds_nodash }}", {"x-{{ ds }}"}]}},
            templates_dict={"path": "/data/{{ ds }}"},
        )
    render_template_fields(op, context_for(op))
    assert op.op_args == ["2024-03-15", 5, ("run_1",)]
    assert op.op_kwargs == {"a": {"b": ["20240315", {"x-2024-03-15"}]}}
    assert op.templates_dict == {"path": "/data/2024-03-15"}


def test_a_typo_fails_clearly(runtime: InMemoryRuntime) -> None:
    op = bash("echo {{ dss }}")
    with pytest.raises(TemplateRenderError) as caught:
        render_template_fields(op, context_for(op))
    assert str(caught.value) == (
        "task 't': cannot render template field 'bash_command': UndefinedError: 'dss' is undefined"
    )
    assert (caught.value.task_id, caught.value.field) == ("t", "bash_command")


def test_missing_variable_fails_clearly(runtime: InMemoryRuntime) -> None:
    op = bash("echo {{ var.value.nope }}")
    with pytest.raises(TemplateRenderError, match="Variable nope does not exist"):
        render_template_fields(op, context_for(op))


def test_user_defined_macros_filters_and_native_rendering(runtime: InMemoryRuntime) -> None:
    with DAG(
        "native",
        user_defined_macros={"project": "atlas"},
        user_defined_filters={"shout": str.upper},
        render_template_as_native_obj=True,
    ):
        op = PythonOperator(
            task_id="t",
            python_callable=print,
            op_args=["{{ project | shout }}", "{{ [1, 2] + [3] }}"],
        )
    render_template_fields(op, context_for(op))
    assert op.op_args == ["ATLAS", [1, 2, 3]]


def test_template_files_are_found_beside_the_dag_and_in_the_search_path(
    tmp_path: Path, runtime: InMemoryRuntime
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text("echo {{ ds }}")
    dag = DAG("files", template_searchpath=str(tmp_path / "scripts"))
    op = bash("run.sh", dag)
    render_template_fields(op, context_for(op))
    assert op.bash_command == "echo 2024-03-15"


def test_build_context_defaults() -> None:
    with DAG("d", params={"p": 1}):
        op = BashOperator(task_id="t", bash_command="x", retries=2)
    context = build_context(task=op, run_id="r", logical_date=datetime(2024, 1, 1, 12))
    assert context["logical_date"] == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert context["data_interval_start"] == context["data_interval_end"] == context["logical_date"]
    assert context["params"] == {"p": 1}
    assert context["ti"].max_tries == 2
    assert context["ti"] is context["task_instance"]
    assert context["task_instance_key_str"] == "d__t__20240101"
    assert context["dag_run"].logical_date == LOGICAL_DATE.replace(
        month=1, day=1, hour=12, minute=0
    )
