"""PythonVirtualenvOperator, ExternalPythonOperator and their decorators, with real venvs.

The venvs are built without downloads: no requirements, or a wheel written in a temporary
folder and installed with no index. Most tests share one cached venv.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tradewind import (
    DAG,
    DagDefinitionError,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    TaskInstanceState,
    task,
)
from tradewind.sdk.execution import TaskOutcome, TaskResult, execute_task
from tradewind.sdk.loader import load_dags_from_file
from tradewind.sdk.memory import InMemoryRuntime
from tradewind.sdk.operators.python_virtualenv import callable_source
from tradewind.sdk.virtualenv import (
    MARKER_NAME,
    VenvSpec,
    ensure_cached_venv,
    find_interpreter,
)
from tradewind.testing import run_dag

from .conftest import LOGICAL_DATE, START, context_for

EXAMPLE = Path(__file__).parents[3] / "examples" / "dags" / "example_python_virtualenv.py"
LOG = logging.getLogger("test_python_virtualenv")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv cache shared by the module's tests."""
    return tmp_path_factory.mktemp("venv-cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny wheel, ``twtinypkg`` (VALUE = 42), to install without an index."""
    folder = tmp_path_factory.mktemp("wheels")
    path = folder / "twtinypkg-0.1-py3-none-any.whl"
    info = "twtinypkg-0.1.dist-info"
    files = {
        "twtinypkg/__init__.py": "VALUE = 42\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: twtinypkg\nVersion: 0.1\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


def run(operator: Any) -> TaskResult:
    return execute_task(operator, context_for(operator), will_retry=False)


def venv_task(cache: Path, function: Any, **kwargs: Any) -> PythonVirtualenvOperator:
    """A task on the shared bare venv (no system site packages, no requirements)."""
    kwargs.setdefault("system_site_packages", False)
    kwargs.setdefault("expect_airflow", False)
    return PythonVirtualenvOperator(
        task_id="venv", python_callable=function, venv_cache_path=str(cache), **kwargs
    )


def add(a: int, b: int, ds: str, ti: Any, params: dict[str, Any], logical_date: Any) -> Any:
    import sys

    print(f"adding in {sys.prefix}")
    return {
        "sum": a + b,
        "ds": ds,
        "task_id": ti.task_id,
        "params": params,
        "year": logical_date.year,
        "prefix": sys.prefix,
    }


def test_arguments_and_return_value_round_trip(
    runtime: InMemoryRuntime, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    operator = venv_task(cache, add, op_args=[2], op_kwargs={"b": 3}, params={"p": 1})
    result = run(operator)
    assert result.outcome == TaskOutcome.SUCCESS, result.error
    value = result.xcoms["return_value"]
    assert value["sum"] == 5
    assert value["ds"] == "2024-03-15"
    assert value["task_id"] == "venv"
    assert value["params"] == {"p": 1}
    assert value["year"] == 2024
    assert value["prefix"].startswith(str(cache))
    assert f"adding in {value['prefix']}" in caplog.text


def test_string_args_templates_dict_and_environment(runtime: InMemoryRuntime, cache: Path) -> None:
    def echo(templates_dict: dict[str, str]) -> Any:
        import os

        return (
            virtualenv_string_args,  # type: ignore[name-defined]  # noqa: F821
            templates_dict,
            os.environ.get("TW_VALUE"),
            "HOME" in os.environ,
        )

    operator = venv_task(
        cache,
        echo,
        string_args=["a", "b"],
        templates_dict={"day": "{{ ds }}"},
        env_vars={"TW_VALUE": "x"},
        inherit_env=False,
    )
    result = run(operator)
    assert result.outcome == TaskOutcome.SUCCESS, result.error
    assert result.xcoms["return_value"] == (["a", "b"], {"day": "2024-03-15"}, "x", False)


def test_an_exception_fails_the_try_with_the_remote_traceback(
    runtime: InMemoryRuntime, cache: Path
) -> None:
    def explode() -> None:
        raise ValueError("boom in the venv")

    result = run(venv_task(cache, explode))
    assert result.outcome == TaskOutcome.FAILED
    assert result.error is not None
    assert "non-zero exit status 1" in result.error.message
    assert "Traceback (most recent call last)" in result.error.message
    assert "ValueError: boom in the venv" in result.error.message


@pytest.mark.parametrize("codes", [42, [1, 42]])
def test_skip_on_exit_code_skips(runtime: InMemoryRuntime, cache: Path, codes: Any) -> None:
    def leave() -> None:
        import sys

        sys.exit(42)

    result = run(venv_task(cache, leave, skip_on_exit_code=codes))
    assert result.outcome == TaskOutcome.SKIPPED
    other = run(venv_task(cache, leave, skip_on_exit_code=7))
    assert other.outcome == TaskOutcome.FAILED


def test_a_cached_venv_is_reused(
    runtime: InMemoryRuntime, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def nothing() -> int:
        return 1

    run(venv_task(cache, nothing))
    (marker,) = cache.glob(f"venv-*/{MARKER_NAME}")
    before = marker.stat().st_mtime_ns
    caplog.clear()
    assert run(venv_task(cache, nothing)).xcoms["return_value"] == 1
    assert "Reusing cached Python virtual environment" in caplog.text
    assert marker.stat().st_mtime_ns == before


def test_two_builds_of_one_spec_do_not_race(tmp_path: Path) -> None:
    spec = VenvSpec(interpreter=find_interpreter(None), system_site_packages=False)
    barrier = threading.Barrier(2)
    built: list[bool] = []

    def build() -> None:
        barrier.wait()
        built.append(ensure_cached_venv(spec, tmp_path, LOG)[1])

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(built) == [False, True]
    assert ensure_cached_venv(spec, tmp_path, LOG)[1] is False


def test_a_partial_venv_is_rebuilt(tmp_path: Path) -> None:
    spec = VenvSpec(interpreter=find_interpreter(None), system_site_packages=False)
    venv, _ = ensure_cached_venv(spec, tmp_path, LOG)
    (venv / MARKER_NAME).unlink()
    assert ensure_cached_venv(spec, tmp_path, LOG) == (venv, True)


def test_requirements_from_a_local_wheel_with_system_site_packages(
    runtime: InMemoryRuntime, cache: Path, wheel: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def use_packages() -> Any:
        import twtinypkg  # type: ignore[import-not-found]

        import tradewind

        return twtinypkg.VALUE, tradewind.__name__

    operator = PythonVirtualenvOperator(
        task_id="wheel",
        python_callable=use_packages,
        requirements=[str(wheel)],
        index_urls=[],
        venv_cache_path=str(cache),
    )
    result = run(operator)
    assert result.outcome == TaskOutcome.SUCCESS, result.error
    assert result.xcoms["return_value"] == (42, "tradewind")
    assert "cannot be imported" not in caplog.text

    requirements_file = wheel.parent / "requirements.txt"
    requirements_file.write_text(f"# the wheel\n{wheel}\n")
    caplog.clear()
    from_file = PythonVirtualenvOperator(
        task_id="wheel",
        python_callable=use_packages,
        requirements=str(requirements_file),
        index_urls=[],
        venv_cache_path=str(cache),
    )
    assert run(from_file).xcoms["return_value"] == (42, "tradewind")
    assert "Reusing cached Python virtual environment" in caplog.text


def test_without_a_cache_the_venv_is_temporary(runtime: InMemoryRuntime) -> None:
    def prefix() -> str:
        import sys

        return sys.prefix

    operator = PythonVirtualenvOperator(
        task_id="temp", python_callable=prefix, system_site_packages=False
    )
    result = run(operator)
    assert result.outcome == TaskOutcome.SUCCESS, result.error
    assert result.xcoms["return_value"] != sys.prefix
    assert not os.path.exists(result.xcoms["return_value"])


def test_a_missing_python_version_is_refused(runtime: InMemoryRuntime, cache: Path) -> None:
    def nothing() -> None:
        return None

    result = run(venv_task(cache, nothing, python_version="3.99"))
    assert result.outcome == TaskOutcome.FAILED
    assert result.error is not None
    assert "no interpreter 'python3.99' found" in result.error.message


def test_bad_arguments_are_refused(runtime: InMemoryRuntime, cache: Path) -> None:
    def nothing() -> None:
        return None

    with pytest.raises(DagDefinitionError, match="Unsupported serializer 'json'"):
        venv_task(cache, nothing, serializer="json")
    with pytest.raises(DagDefinitionError, match="only supports functions"):
        venv_task(cache, lambda: None)
    with pytest.raises(DagDefinitionError, match="non-string types"):
        venv_task(cache, nothing, python_version=3.11)
    dill = run(venv_task(cache, nothing, use_dill=True, system_site_packages=True))
    if dill.outcome != TaskOutcome.SUCCESS:
        assert dill.error is not None
        assert "serializer 'dill' is not installed" in dill.error.message


def test_an_unserializable_context_key_is_refused(runtime: InMemoryRuntime, cache: Path) -> None:
    def wants_dag(dag: Any) -> None:
        return None

    result = run(venv_task(cache, wants_dag))
    assert result.outcome == TaskOutcome.FAILED
    assert result.error is not None
    assert "the context key 'dag' cannot be passed" in result.error.message


def test_external_python_runs_the_callable(runtime: InMemoryRuntime) -> None:
    def double(value: int) -> int:
        print("doubling")
        return value * 2

    operator = ExternalPythonOperator(
        task_id="external", python=sys.executable, python_callable=double, op_args=[21]
    )
    result = run(operator)
    assert result.outcome == TaskOutcome.SUCCESS, result.error
    assert result.xcoms["return_value"] == 42


@pytest.mark.parametrize(
    ("python", "message"),
    [
        ("/no/such/python", "must exist"),
        ("python3", "must be an absolute path"),
        ("/", "must be a file"),
        ("NOT_PYTHON", "is not a working Python interpreter"),
    ],
)
def test_external_python_with_a_bad_path_fails_clearly(
    runtime: InMemoryRuntime, tmp_path: Path, python: str, message: str
) -> None:
    if python == "NOT_PYTHON":
        script = tmp_path / "python"
        script.write_text("#!/bin/sh\necho nope\nexit 3\n")
        script.chmod(0o755)
        python = str(script)

    def nothing() -> None:
        return None

    operator = ExternalPythonOperator(task_id="bad", python=python, python_callable=nothing)
    result = run(operator)
    assert result.outcome == TaskOutcome.FAILED
    assert result.error is not None
    assert message in result.error.message
    with pytest.raises(Exception, match="Python Path must be defined"):
        ExternalPythonOperator(task_id="empty", python="", python_callable=nothing)


def test_the_decorator_is_removed_from_the_source() -> None:
    @task.virtualenv(
        system_site_packages=False,
        requirements=[],
    )
    def decorated(x: int) -> int:
        return x

    source = callable_source(decorated.function)
    assert source.startswith("def decorated(x: int) -> int:")


def test_decorators_in_a_dag_through_run_dag(cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    with DAG("venv_decorators", schedule=None, start_date=START) as dag:

        @task.virtualenv(
            venv_cache_path=str(cache), system_site_packages=False, expect_airflow=False
        )
        def numbers(count: int) -> list[int]:
            print("making numbers")
            return list(range(count))

        @task.external_python(python=sys.executable)
        def total(values: list[int], run_id: str) -> dict[str, Any]:
            return {"total": sum(values), "run_id": run_id}

        @task
        def report(summary: dict[str, Any]) -> str:
            return f"{summary['total']}"

        report(total(numbers(4)))

    result = run_dag(dag, logical_date=LOGICAL_DATE)
    assert result.state == "success", {k: [t.error for t in v] for k, v in result.tries.items()}
    assert result.xcom("numbers") == [0, 1, 2, 3]
    assert result.xcom("total")["total"] == 6
    assert result.xcom("report") == "6"
    assert dag.task_dict["numbers"].operator_name == "@task.virtualenv"
    assert dag.task_dict["total"].operator_name == "@task.external_python"
    assert "making numbers" in caplog.text


def test_the_example_dag_runs() -> None:
    loaded = load_dags_from_file(EXAMPLE, dags_folder=EXAMPLE.parent)
    assert loaded.error is None
    (dag,) = loaded.dags
    result = run_dag(dag, logical_date=LOGICAL_DATE)
    assert result.state == "success"
    assert result.task_states["report"] == TaskInstanceState.SUCCESS
    assert result.xcom("report") == "squares=[0, 1, 4, 9] sum=14"
