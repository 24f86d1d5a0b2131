"""Mapped tasks in the contract: MapLength for every source kind, template, fields, hash."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import text_format

from core.mapping import LengthSpec
from protos.dag.v1 import message_pb2 as dag_pb2
from tradewind import DAG, BashOperator, EmptyOperator, PythonOperator, task
from tradewind.sdk.loader import load_dags_from_file
from tradewind.sdk.serialization import map_length_message, serialize_dag, task_definition

REPO_ROOT = Path(__file__).resolve().parents[3]
START = datetime(2024, 1, 1, tzinfo=UTC)


@task
def make_list() -> list[int]:
    return [1, 2]


@task
def show(value: object) -> object:
    return value


@task
def add(x: int, y: int) -> int:
    return x + y


def length_of(dag: DAG, task_id: str) -> str:
    """The task's MapLength in protobuf text format, on one line."""
    message = task_definition(dag.get_task(task_id)).map_length
    return text_format.MessageToString(message, as_one_line=True)


def test_literal_list_and_dict() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        show.expand(value=[1, 2, 3])
        show.expand(value={"a": 1, "b": 2})
        BashOperator.partial(task_id="echo").expand(bash_command=("echo 1", "echo 2"))
    assert length_of(dag, "show") == "literal: 3"
    assert length_of(dag, "show__1") == "literal: 2"
    assert length_of(dag, "echo") == "literal: 2"


def test_upstream_return_value_mapped_or_not() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        added = add.partial(y=1).expand(x=make_list())
        show.expand(value=added)
    assert length_of(dag, "add") == 'upstream_task_id: "make_list"'
    assert length_of(dag, "show") == 'upstream_task_id: "add"'


def test_cross_product_of_several_arguments() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        add.expand(x=[1, 2], y=make_list())
    assert length_of(dag, "add") == (
        'product { parts { literal: 2 } parts { upstream_task_id: "make_list" } }'
    )


def test_map_zip_and_concat() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        a, b = make_list(), make_list()
        show.expand(value=a.map(str))
        show.expand(value=a.zip(b))
        show.expand(value=a.zip(b, fillvalue=0).map(str))
        show.expand(value=a.concat(b.map(str), a.zip(b)))
    assert length_of(dag, "show") == 'upstream_task_id: "make_list"'
    assert length_of(dag, "show__1") == (
        'zip { parts { upstream_task_id: "make_list" } parts { upstream_task_id: "make_list__1" } }'
    )
    assert length_of(dag, "show__2").startswith("zip_longest { parts")
    assert length_of(dag, "show__3") == (
        'concat { parts { upstream_task_id: "make_list" }'
        ' parts { upstream_task_id: "make_list__1" }'
        ' parts { zip { parts { upstream_task_id: "make_list" }'
        ' parts { upstream_task_id: "make_list__1" } } } }'
    )


def test_expand_kwargs_literal_and_upstream() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        add.expand_kwargs([{"x": 1, "y": 2}, make_list(), {"x": 3, "y": 4}])
        BashOperator.partial(task_id="echo").expand_kwargs(make_list().map(dict))
    assert length_of(dag, "add") == "literal: 3"
    assert length_of(dag, "echo") == 'upstream_task_id: "make_list__1"'


def test_the_length_spec_is_the_message_as_data() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        a = make_list()
        add.expand(x=a.zip(a, fillvalue=None), y=[1, 2])
    mapped = dag.get_task("add")
    assert mapped.map_length_spec() == LengthSpec(
        "product",
        parts=(
            LengthSpec(
                "zip_longest",
                parts=(LengthSpec("upstream", task_id="make_list"),) * 2,
            ),
            LengthSpec("literal", value=2),
        ),
    )
    assert map_length_message(mapped) == task_definition(mapped).map_length


def test_unmapped_tasks_have_no_map_length() -> None:
    with DAG(dag_id="lengths", start_date=START, schedule=None) as dag:
        plain = EmptyOperator(task_id="plain")
    definition = task_definition(plain)
    assert not definition.HasField("map_length")
    assert definition.map_index_template == ""
    with pytest.raises(ValueError, match="is not mapped"):
        map_length_message(dag.get_task("plain"))


def test_mapped_task_definition() -> None:
    with DAG(dag_id="defined", start_date=START, schedule=None) as dag:
        start = EmptyOperator(task_id="start")
        echo = BashOperator.partial(
            task_id="echo",
            retries=2,
            pool="small",
            env={"A": "1"},
            map_index_template="{{ task.bash_command }}",
        ).expand(bash_command=["echo 1", "echo 2"])
        start >> echo

        @task(map_index_template="{{ x }}", retries=1)
        def double(x: int) -> int:
            return 2 * x

        double.partial().expand(x=make_list())
    (definition,) = [
        t
        for t in serialize_dag(dag, fileloc="/d.py", relative_fileloc="d.py").definition.tasks
        if t.task_id == "echo"
    ]
    assert definition.operator == "BashOperator"
    assert list(definition.upstream_task_ids) == ["start"]
    assert (definition.retries, definition.pool) == (2, "small")
    assert definition.map_index_template == "{{ task.bash_command }}"
    assert json.loads(definition.fields_json) == {
        "append_env": False,
        "bash_command": ["echo 1", "echo 2"],
        "cwd": None,
        "env": {"A": "1"},
        "skip_on_exit_code": 99,
    }
    decorated = task_definition(dag.get_task("double"))
    assert decorated.operator == "@task"
    assert decorated.map_index_template == "{{ x }}"
    assert json.loads(decorated.fields_json) == {
        "op_args": [],
        "op_kwargs": {"x": "XComArg('make_list', key='return_value')"},
        "python_callable": f"{__name__}.test_mapped_task_definition.<locals>.double",
        "templates_dict": None,
    }


def test_expand_kwargs_is_shown_in_the_fields() -> None:
    with DAG(dag_id="defined", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="py", python_callable=print).expand_kwargs(
            [{"op_args": [1]}, {"op_args": [2]}]
        )
    fields = json.loads(task_definition(dag.get_task("py")).fields_json)
    assert fields["expand_kwargs"] == [{"op_args": [1]}, {"op_args": [2]}]
    assert fields["python_callable"] == "builtins.print"


def build(values: list[int]) -> DAG:
    with DAG(dag_id="hashed", start_date=START, schedule=None) as dag:
        add.partial(y=1).expand(x=values)
        show.expand(value=make_list().map(str))
    return dag


def test_the_hash_is_stable_and_follows_the_mapping() -> None:
    def hash_of(dag: DAG) -> str:
        return serialize_dag(dag, fileloc="/h.py", relative_fileloc="h.py").content_hash

    assert hash_of(build([1, 2])) == hash_of(build([1, 2]))
    assert hash_of(build([1, 2])) != hash_of(build([1, 2, 3]))


DAG_FILE = textwrap.dedent(
    """
    from datetime import datetime
    from tradewind import DAG, BashOperator, task

    with DAG("mapped", schedule=None, start_date=datetime(2024, 1, 1)):
        @task
        def make_list():
            return [1, 2]

        @task(map_index_template="{{ x }}")
        def add(x, y):
            return x + y

        added = add.partial(y=1).expand(x=make_list().map(lambda v: v * 2))
        BashOperator.partial(task_id="echo").expand(bash_command=make_list().map(str))
    """
)

HASH_SCRIPT = """
import sys
from tradewind.sdk.loader import load_dags_from_file
from tradewind.sdk.serialization import serialize_dag
result = load_dags_from_file(sys.argv[1], dags_folder=sys.argv[2])
(dag,) = result.dags
print(serialize_dag(dag, fileloc=sys.argv[1], relative_fileloc="team/mapped.py").content_hash)
"""


def test_the_hash_is_the_same_in_another_process(tmp_path: Path) -> None:
    here, there = tmp_path / "host_a", tmp_path / "host_b"
    (here / "team").mkdir(parents=True)
    (here / "team" / "mapped.py").write_text(DAG_FILE)
    shutil.copytree(here, there)
    (dag,) = load_dags_from_file(here / "team" / "mapped.py", dags_folder=here).dags
    local = serialize_dag(dag, fileloc=dag.fileloc, relative_fileloc="team/mapped.py")
    remote = subprocess.run(
        [sys.executable, "-c", HASH_SCRIPT, str(there / "team" / "mapped.py"), str(there)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert remote.stdout.strip() == local.content_hash
    tasks = {t.task_id: t for t in local.definition.tasks}
    assert tasks["add"].map_length == dag_pb2.MapLength(upstream_task_id="make_list")
    assert tasks["echo"].map_length == dag_pb2.MapLength(upstream_task_id="make_list__1")
