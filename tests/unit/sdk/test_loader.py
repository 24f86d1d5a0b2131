"""load_dags_from_file: DAGs found without variables; broken files reported, never raised."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tradewind.sdk.loader import LoadResult, load_dags_from_file


def load(folder: Path, source: str, name: str = "dags.py") -> LoadResult:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return load_dags_from_file(path, dags_folder=folder)


THREE_DAGS = """
from datetime import datetime
from tradewind import DAG, dag, task, EmptyOperator

with DAG("unassigned", schedule="@daily", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")

@dag(schedule=None)
def decorated():
    @task
    def hello():
        return "hi"
    hello()

decorated()

assigned = DAG("assigned")
EmptyOperator(task_id="only", dag=assigned)
"""


def test_a_file_with_three_dags(tmp_path: Path) -> None:
    result = load(tmp_path, THREE_DAGS)
    assert result.error is None
    assert [d.dag_id for d in result.dags] == ["unassigned", "decorated", "assigned"]
    assert result.dags[0].task_ids == ["a", "b"]
    assert all(d.fileloc == str(tmp_path / "dags.py") for d in result.dags)
    assert result.dags[0].lineno == 4


def test_a_syntax_error_gives_its_line(tmp_path: Path) -> None:
    result = load(tmp_path, "from tradewind import DAG\n\nx = (1,\nwith DAG('x'):\n    pass\n")
    assert result.dags == ()
    assert result.error is not None
    assert result.error.exception_type == "SyntaxError"
    assert result.error.line_number in (3, 4)  # Python points at the open parenthesis or after
    assert result.error.message.startswith("SyntaxError: ")
    # The file and line are said once, not again inside Python's own text.
    assert result.error.message.count("line") == 1
    assert "dags.py" not in result.error.message
    assert result.error.relative_filename == "dags.py"
    assert "SyntaxError" in result.error.stacktrace


def test_an_exception_at_import_gives_the_line_of_the_raise(tmp_path: Path) -> None:
    source = """
    from tradewind import DAG

    def helper():
        raise RuntimeError("config missing")

    with DAG("x"):
        helper()
    """
    result = load(tmp_path, source)
    assert result.dags == ()
    assert result.error is not None
    assert result.error.exception_type == "RuntimeError"
    assert result.error.exception_message == "config missing"
    assert result.error.line_number == 4
    assert result.error.message == "RuntimeError: config missing (line 4)"
    assert 'raise RuntimeError("config missing")' in result.error.stacktrace


def test_a_cycle_is_an_import_error(tmp_path: Path) -> None:
    source = """
    from tradewind import DAG, EmptyOperator

    with DAG("loop"):
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b >> a
    """
    result = load(tmp_path, source)
    assert result.error is not None
    assert result.error.exception_type == "DagCycleError"
    assert result.error.exception_message == ("DAG 'loop', task 'a': cycle detected: a -> b -> a")
    assert result.error.line_number == 3


def test_a_cycle_in_a_dag_without_a_block_is_found_after_import(tmp_path: Path) -> None:
    source = """
    from tradewind import DAG, EmptyOperator

    good = DAG("good")
    EmptyOperator(task_id="x", dag=good)

    bad = DAG("bad")
    a = EmptyOperator(task_id="a", dag=bad)
    a >> a
    """
    result = load(tmp_path, source)
    assert [d.dag_id for d in result.dags] == ["good"]  # the valid DAG is still loaded
    assert result.error is not None
    assert result.error.exception_type == "DagCycleError"
    assert result.error.line_number == 6


def test_duplicate_task_ids(tmp_path: Path) -> None:
    source = """
    from tradewind import DAG, EmptyOperator

    with DAG("dup"):
        EmptyOperator(task_id="same")
        EmptyOperator(task_id="same")
    """
    result = load(tmp_path, source)
    assert result.error is not None
    assert result.error.exception_type == "DuplicateTaskIdError"
    assert "task id 'same' has already been added" in result.error.exception_message
    assert result.error.line_number == 5


def test_duplicate_dag_ids_in_one_file(tmp_path: Path) -> None:
    result = load(tmp_path, "from tradewind import DAG\nDAG('twice')\nDAG('twice')\n")
    assert [d.dag_id for d in result.dags] == ["twice"]
    assert result.error is not None
    assert "two DAGs with this id" in result.error.exception_message
    assert result.error.line_number == 3


def test_sys_exit_at_import_is_reported(tmp_path: Path) -> None:
    result = load(tmp_path, "import sys\nsys.exit(3)\n")
    assert result.error is not None
    assert (result.error.exception_type, result.error.line_number) == ("SystemExit", 2)


def test_an_empty_file_has_no_dags_and_no_error(tmp_path: Path) -> None:
    assert load(tmp_path, "x = 1\n") == LoadResult(dags=(), error=None)


def test_the_dags_folder_is_appended_to_sys_path(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text("OWNER = 'team'\n")
    # A user module named like a Tradewind package must not shadow it.
    (tmp_path / "tradewind.py").write_text("raise ImportError('shadowed')\n")
    source = """
    from common import OWNER
    from tradewind import DAG, EmptyOperator

    with DAG("uses_common", default_args={"owner": OWNER}):
        EmptyOperator(task_id="t")
    """
    result = load(tmp_path, source, name="team/uses_common.py")
    assert result.error is None
    assert result.dags[0].owner == "team"
    assert sys.path[-1] == str(tmp_path)
    assert result.dags[0].fileloc == str(tmp_path / "team" / "uses_common.py")


def test_loading_twice_gives_fresh_dags(tmp_path: Path) -> None:
    first = load(tmp_path, THREE_DAGS)
    second = load(tmp_path, THREE_DAGS)
    assert first.dags[0] is not second.dags[0]
    assert [d.dag_id for d in second.dags] == ["unassigned", "decorated", "assigned"]


def test_dags_made_by_a_factory_in_another_module_belong_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from tradewind import DAG, EmptyOperator

            def make(dag_id):
                with DAG(dag_id) as dag:
                    EmptyOperator(task_id="t")
                return dag
            """
        )
    )
    source = """
    from common import make

    for name in ("first", "second"):
        make(name)
    """
    result = load(tmp_path, source, name="made.py")
    assert [d.dag_id for d in result.dags] == ["first", "second"]
    assert {d.fileloc for d in result.dags} == {str(tmp_path / "made.py")}
