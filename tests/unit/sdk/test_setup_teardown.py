"""Setup and teardown tasks, written the way Airflow's docs write them, run with dag.test()."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.states import DagRunState, TaskInstanceState
from core.trigger_rules import TriggerRule
from tradewind import DAG, BashOperator, DagDefinitionError, EmptyOperator, setup, task, teardown
from tradewind.sdk.exceptions import TradewindException
from tradewind.testing import run_dag

START = datetime(2026, 1, 1)
S, F = TaskInstanceState.SUCCESS, TaskInstanceState.FAILED
U, K = TaskInstanceState.UPSTREAM_FAILED, TaskInstanceState.SKIPPED


def cluster_dag(*, query: str = "true", create: str = "true", delete: str = "true") -> DAG:
    with DAG("cluster", start_date=START, schedule=None) as dag:
        create_cluster = BashOperator(task_id="create_cluster", bash_command=create)
        run_query = BashOperator(task_id="run_query", bash_command=query)
        delete_cluster = BashOperator(task_id="delete_cluster", bash_command=delete)
        create_cluster >> run_query >> delete_cluster.as_teardown(setups=create_cluster)
    return dag


def test_as_teardown_marks_the_roles_and_wires_the_setup() -> None:
    dag = cluster_dag()
    create, delete = dag.get_task("create_cluster"), dag.get_task("delete_cluster")
    assert (create.is_setup, create.is_teardown) == (True, False)
    assert (delete.is_setup, delete.is_teardown) == (False, True)
    assert delete.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert delete.upstream_task_ids == {"create_cluster", "run_query"}


def test_the_teardown_runs_when_the_work_fails_and_the_run_fails() -> None:
    result = run_dag(cluster_dag(query="exit 1"))
    assert result.task_states == {"create_cluster": S, "run_query": F, "delete_cluster": S}
    assert result.state == DagRunState.FAILED  # the teardown does not decide the run


def test_a_failed_setup_fails_its_work_and_its_teardown_does_not_run() -> None:
    result = run_dag(cluster_dag(create="exit 1"))
    assert result.task_states == {"create_cluster": F, "run_query": U, "delete_cluster": U}
    assert result.state == DagRunState.FAILED


def test_a_failed_teardown_leaves_the_run_successful_unless_it_must_fail_it() -> None:
    result = run_dag(cluster_dag(delete="exit 1"))
    assert result.task_states == {"create_cluster": S, "run_query": S, "delete_cluster": F}
    assert result.state == DagRunState.SUCCESS
    strict = cluster_dag(delete="exit 1")
    strict.get_task("delete_cluster").on_failure_fail_dagrun = True
    assert run_dag(strict).state == DagRunState.FAILED


def test_decorators_and_the_context_manager_put_the_work_between_setup_and_teardown() -> None:
    calls: list[str] = []

    with DAG("decorated", start_date=START, schedule=None) as dag:

        @setup
        def create_resource() -> str:
            calls.append("create")
            return "bucket-1"

        @teardown
        def delete_resource() -> None:
            calls.append("delete")

        @task
        def load(name: str) -> None:
            calls.append(f"load {name}")

        @task
        def fail() -> None:
            raise ValueError("the work breaks")

        resource = create_resource()
        with delete_resource().as_teardown(setups=resource):
            load(resource) >> fail()

    assert dag.get_task("load").upstream_task_ids == {"create_resource"}
    assert dag.get_task("delete_resource").upstream_task_ids == {"create_resource", "fail"}
    result = run_dag(dag)
    assert calls == ["create", "load bucket-1", "delete"]
    assert result.task_states["fail"] == F
    assert result.task_states["delete_resource"] == S
    assert result.state == DagRunState.FAILED


def test_a_task_needs_its_indirect_setups_even_with_a_lenient_trigger_rule() -> None:
    """Airflow's setup constraint: past a failed setup, an all_done task does not run."""
    with DAG("indirect", start_date=START, schedule=None) as dag:
        create = BashOperator(task_id="create", bash_command="exit 1").as_setup()
        first = EmptyOperator(task_id="first")
        second = EmptyOperator(task_id="second", trigger_rule="all_done")
        delete = EmptyOperator(task_id="delete")
        create >> first >> second >> delete.as_teardown(setups=create)
    result = run_dag(dag)
    assert result.task_states == {"create": F, "first": U, "second": U, "delete": U}


def test_a_teardown_of_skipped_setups_is_skipped() -> None:
    with DAG("skipped", start_date=START, schedule=None) as dag:
        create = BashOperator(task_id="create", bash_command="exit 99").as_setup()
        work = EmptyOperator(task_id="work")
        delete = EmptyOperator(task_id="delete")
        create >> work >> delete.as_teardown(setups=create)
    result = run_dag(dag)
    assert result.task_states == {"create": K, "work": K, "delete": K}
    assert result.state == DagRunState.SUCCESS


def _both() -> None:
    with DAG("both", start_date=START, schedule=None):
        EmptyOperator(task_id="x").as_setup().as_teardown()


def _teardown_rule_changed() -> None:
    with DAG("rule", start_date=START, schedule=None):
        down = EmptyOperator(task_id="down").as_teardown()
        down.trigger_rule = TriggerRule.ALL_DONE


def _lenient_task_right_after_a_setup() -> None:
    with DAG("after", start_date=START, schedule=None):
        make = EmptyOperator(task_id="make").as_setup()
        make >> EmptyOperator(task_id="next", trigger_rule="all_done")


def test_setup_and_teardown_rules_are_checked() -> None:
    with pytest.raises(DagDefinitionError, match="both setup and teardown"):
        _both()
    with pytest.raises(DagDefinitionError, match="must be all_done_setup_success"):
        _teardown_rule_changed()
    with pytest.raises(DagDefinitionError, match="followed with trigger rule ALL_SUCCESS"):
        _lenient_task_right_after_a_setup()
    with DAG("plain", start_date=START, schedule=None):
        plain = EmptyOperator(task_id="plain")
        with pytest.raises(ValueError, match="not a teardown task"):
            plain.on_failure_fail_dagrun = True
        with pytest.raises(TradewindException, match="Only setup/teardown tasks"), plain:
            pass
    with pytest.raises(TradewindException, match="Trigger rule not configurable"):

        @teardown
        @task(trigger_rule="all_done")
        def clean() -> None: ...


def test_teardown_takes_on_failure_fail_dagrun() -> None:
    with DAG("flagged", start_date=START, schedule=None) as dag:

        @teardown(on_failure_fail_dagrun=True)
        def clean() -> None:
            raise ValueError("cleanup failed")

        @task
        def work() -> None: ...

        work() >> clean()
    operator = dag.get_task("clean")
    assert operator.is_teardown
    assert operator.on_failure_fail_dagrun
    assert run_dag(dag).state == DagRunState.FAILED


def test_dag_test_takes_airflows_arguments() -> None:
    """run_conf and mark_success_pattern as Airflow's dag.test() has them."""
    dag = cluster_dag(query="exit 1")
    result = dag.test(run_conf={}, mark_success_pattern=r"^run_")
    assert result.task_states == {"create_cluster": S, "run_query": S, "delete_cluster": S}
    assert "run_query" not in result.tries  # marked, never run
    with pytest.raises(TradewindException, match="use_executor=True"):
        dag.test(use_executor=True)
    with pytest.raises(TradewindException, match="run_conf or conf"):
        dag.test(run_conf={}, conf={})
