"""execute_task: outcomes, XComs to push, skip sets of branches and short circuits, callbacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tradewind import (
    DAG,
    AirflowFailException,
    AirflowSkipException,
    BaseOperator,
    BashOperator,
    BranchPythonOperator,
    DagDefinitionError,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
    TaskGroup,
    task,
)
from tradewind.sdk.execution import TaskOutcome, TaskResult, execute_task
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore

from .conftest import context_for


def run(op: Any, **context: Any) -> TaskResult:
    return execute_task(op, context_for(op, **context))


def python(callable_: Callable[..., Any], **kwargs: Any) -> PythonOperator:
    with DAG("d"):
        return PythonOperator(task_id="t", python_callable=callable_, **kwargs)


def boom() -> None:
    raise ValueError("bad input")


def test_success_reports_the_return_value(runtime: InMemoryRuntime) -> None:
    result = run(python(lambda: {"rows": 3}))
    assert result.outcome is TaskOutcome.SUCCESS
    assert result.xcoms == {"return_value": {"rows": 3}}
    assert result.error is None
    assert result.skip_task_ids == frozenset()


def test_none_and_do_xcom_push_false_push_nothing(runtime: InMemoryRuntime) -> None:
    assert run(python(lambda: None)).xcoms == {}
    assert run(python(lambda: 1, do_xcom_push=False)).xcoms == {}


def test_multiple_outputs(runtime: InMemoryRuntime) -> None:
    result = run(python(lambda: {"a": 1, "b": 2}, multiple_outputs=True))
    assert result.xcoms == {"a": 1, "b": 2, "return_value": {"a": 1, "b": 2}}
    wrong = run(python(lambda: [1], multiple_outputs=True))
    assert wrong.outcome is TaskOutcome.FAILED
    assert wrong.error is not None
    assert "expected a dict for multiple_outputs" in wrong.error.message
    bad_keys = run(python(lambda: {1: "x"}, multiple_outputs=True))
    assert bad_keys.error is not None
    assert "keys must be strings" in bad_keys.error.message


def test_xcom_push_and_pull_go_through_the_runtime(
    runtime: InMemoryRuntime, store: InMemoryStore
) -> None:
    store.xcoms["up"] = {"return_value": 5, "extra": "e"}

    def body(ti: Any) -> Any:
        ti.xcom_push(key="pushed", value=ti.xcom_pull(task_ids="up") + 1)
        return [ti.xcom_pull(task_ids=["up", "none"]), ti.xcom_pull(task_ids="up", key="extra")]

    result = run(python(body))
    assert result.xcoms == {"return_value": [[5, None], "e"]}
    assert store.xcoms["current"] == {"pushed": 6}


def test_skip(runtime: InMemoryRuntime) -> None:
    skipped: list[str] = []

    def skip() -> None:
        raise AirflowSkipException("nothing to do")

    result = run(python(skip, on_skipped_callback=lambda c: skipped.append(c["ti"].task_id)))
    assert result.outcome is TaskOutcome.SKIPPED
    assert result.error is not None
    assert result.error.message == "nothing to do"
    assert skipped == ["t"]


def test_failure_has_type_message_and_traceback(runtime: InMemoryRuntime) -> None:
    result = run(python(boom))
    assert result.outcome is TaskOutcome.FAILED
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "bad input")
    assert "in boom" in result.error.traceback
    assert result.error.traceback.rstrip().endswith("ValueError: bad input")
    assert result.will_retry is False  # retries=0: try 1 is the last


def test_will_retry_follows_try_number_and_retries(runtime: InMemoryRuntime) -> None:
    op = python(boom, retries=1)
    assert run(op, try_number=1).will_retry is True
    assert run(op, try_number=2).will_retry is False
    assert execute_task(op, context_for(op), will_retry=False).will_retry is False


def test_fail_without_retry(runtime: InMemoryRuntime) -> None:
    def fatal() -> None:
        raise AirflowFailException("credentials revoked")

    result = run(python(fatal, retries=5))
    assert result.outcome is TaskOutcome.FAILED_NO_RETRY
    assert result.will_retry is False
    assert result.error is not None
    assert result.error.type == "tradewind.sdk.exceptions.TaskFailedNoRetry"


def test_callbacks_get_the_right_flags(runtime: InMemoryRuntime) -> None:
    calls: list[tuple[str, Any]] = []

    def recorder(name: str) -> Callable[[Any], None]:
        return lambda context: calls.append((name, context.get("exception")))

    callbacks = {
        "on_success_callback": recorder("success"),
        "on_failure_callback": recorder("failure"),
        "on_retry_callback": recorder("retry"),
        "on_execute_callback": recorder("execute"),
    }
    run(python(lambda: 1, **callbacks))
    assert calls == [("execute", None), ("success", None)]
    calls.clear()
    run(python(boom, retries=1, **callbacks), try_number=1)
    assert [name for name, _ in calls] == ["execute", "retry"]
    assert isinstance(calls[-1][1], ValueError)
    calls.clear()
    run(python(boom, retries=1, **callbacks), try_number=2)
    assert [name for name, _ in calls] == ["execute", "failure"]


def test_a_failing_callback_never_changes_the_outcome(runtime: InMemoryRuntime) -> None:
    def broken(context: Any) -> None:
        raise RuntimeError("callback bug")

    result = run(python(lambda: 1, on_success_callback=[broken, broken]))
    assert result.outcome is TaskOutcome.SUCCESS
    assert [e.message for e in result.callback_errors] == ["callback bug", "callback bug"]


def test_the_dag_task_keeps_its_templates(runtime: InMemoryRuntime) -> None:
    op = python(lambda x: x, op_args=["{{ ds }}"])
    assert run(op).xcoms == {"return_value": "2024-03-15"}
    assert op.op_args == ["{{ ds }}"]


def test_template_error_is_a_failure(runtime: InMemoryRuntime) -> None:
    result = run(python(lambda x: x, op_args=["{{ nope }}"]))
    assert result.outcome is TaskOutcome.FAILED
    assert result.error is not None
    assert result.error.type.endswith("TemplateRenderError")


# -- Bash --------------------------------------------------------------------------------


def bash_result(command: str, **kwargs: Any) -> TaskResult:
    with DAG("d"):
        op = BashOperator(task_id="t", bash_command=command, **kwargs)
    return run(op)


def test_bash_returns_the_last_line(runtime: InMemoryRuntime) -> None:
    result = bash_result("echo first; echo 'last {{ ds }}'")
    assert result.outcome is TaskOutcome.SUCCESS
    assert result.xcoms == {"return_value": "last 2024-03-15"}


def test_bash_output_processor_turns_the_last_line_into_the_xcom(
    runtime: InMemoryRuntime,
) -> None:
    import json

    result = bash_result("""echo '{"rows": 3}'""", output_processor=json.loads)
    assert result.xcoms == {"return_value": {"rows": 3}}
    broken = bash_result("echo not json", output_processor=json.loads)
    assert broken.outcome is TaskOutcome.FAILED  # the processor's error fails the try
    with pytest.raises(DagDefinitionError, match="output_processor must be callable"), DAG("d"):
        BashOperator(task_id="t", bash_command="true", output_processor="json")  # type: ignore[arg-type]


def test_bash_exit_codes(runtime: InMemoryRuntime) -> None:
    failed = bash_result("exit 3")
    assert failed.outcome is TaskOutcome.FAILED
    assert failed.error is not None
    assert "non-zero exit code 3" in failed.error.message
    assert bash_result("exit 99").outcome is TaskOutcome.SKIPPED
    assert bash_result("exit 7", skip_on_exit_code=[7, 8]).outcome is TaskOutcome.SKIPPED
    assert bash_result("exit 99", skip_on_exit_code=None).outcome is TaskOutcome.FAILED


def test_bash_env_cwd_and_context_variables(
    runtime: InMemoryRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROM_PARENT", "parent")
    command = (
        'echo "$PWD|${FROM_PARENT:-none}|$GREETING|$AIRFLOW_CTX_TASK_ID|$TRADEWIND_CTX_DAG_ID"'
    )
    replaced = bash_result(command, env={"GREETING": "{{ ds }}"}, cwd=str(tmp_path))
    appended = bash_result(command, env={"GREETING": "hi"}, append_env=True)
    assert replaced.xcoms["return_value"] == f"{tmp_path}|none|2024-03-15|t|d"
    assert appended.xcoms["return_value"].split("|")[1:] == ["parent", "hi", "t", "d"]
    missing = bash_result("true", cwd=str(tmp_path / "missing"))
    assert missing.error is not None
    assert "does not exist" in missing.error.message


def test_task_bash_runs_the_returned_command(runtime: InMemoryRuntime) -> None:
    with DAG("d"):

        @task.bash
        def greet(name: str) -> str:
            return f"echo hello {name} {{{{ ds_nodash }}}}"

        made = greet("world")
    assert run(made.operator).xcoms == {"return_value": "hello world 20240315"}


# -- Branches and short circuits -------------------------------------------------------------


def branch_dag(returned: Any) -> tuple[DAG, BranchPythonOperator]:
    with DAG("branchy") as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: returned)
        a, b, join = (EmptyOperator(task_id=i) for i in ("a", "b", "join"))
        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="inner")
        branch >> [a, b, grp]
        a >> join
        branch >> join
    return dag, branch


@pytest.mark.parametrize(
    ("returned", "skipped"),
    [
        ("a", {"b", "grp.inner"}),  # join follows a, so it is not skipped
        (["a", "b"], {"grp.inner"}),
        ("b", {"a", "grp.inner", "join"}),
        ("grp", {"a", "b", "join"}),  # a group id stands for its roots
        (None, {"a", "b", "grp.inner", "join"}),
    ],
)
def test_branch_skip_set(returned: Any, skipped: set[str], runtime: InMemoryRuntime) -> None:
    _, branch = branch_dag(returned)
    result = run(branch)
    assert result.outcome is TaskOutcome.SUCCESS
    assert result.skip_task_ids == skipped


def test_branch_to_an_unknown_task_fails(runtime: InMemoryRuntime) -> None:
    _, branch = branch_dag("nowhere")
    result = run(branch)
    assert result.outcome is TaskOutcome.FAILED
    assert result.error is not None
    assert "Invalid tasks found: ['nowhere']" in result.error.message


@pytest.mark.parametrize(
    ("condition", "ignore", "skipped"),
    [
        (True, True, set()),
        (0, True, {"a", "b", "c"}),
        (False, False, {"a"}),
    ],
)
def test_short_circuit_skip_set(
    condition: Any, ignore: bool, skipped: set[str], runtime: InMemoryRuntime
) -> None:
    with DAG("sc"):
        check = ShortCircuitOperator(
            task_id="check",
            python_callable=lambda: condition,
            ignore_downstream_trigger_rules=ignore,
        )
        a, b, c = (EmptyOperator(task_id=i) for i in "abc")
        check >> a >> b >> c
    result = run(check)
    assert result.skip_task_ids == skipped
    assert result.xcoms == ({"return_value": condition} if condition is not None else {})


def test_a_custom_operator_gets_default_args_templates_and_xcomargs(
    runtime: InMemoryRuntime, store: InMemoryStore
) -> None:
    class Greet(BaseOperator):
        template_fields = ("name", "greeting")

        def __init__(self, *, name: Any, greeting: str = "hello", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.name = name
            self.greeting = greeting

        def execute(self, context: Any) -> str:
            return f"{self.greeting} {self.name} {context['ti'].task is context['task']}"

    with DAG("custom", default_args={"greeting": "hi {{ ds }}", "retries": 2}) as built:
        source = PythonOperator(task_id="source", python_callable=lambda: "x")
        greet = Greet(task_id="greet", name=source.output)
    assert greet.upstream_task_ids == {"source"}
    assert (greet.greeting, greet.retries) == ("hi {{ ds }}", 2)
    store.xcoms["source"] = {"return_value": "world"}
    assert run(built.get_task("greet")).xcoms == {"return_value": "hi 2024-03-15 world True"}
