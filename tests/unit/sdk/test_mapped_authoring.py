"""Mapped tasks as DAG nodes: ids, dependencies, groups and the arguments of every instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.trigger_rules import TriggerRule
from tradewind import (
    DAG,
    BaseOperator,
    BashOperator,
    EmptyOperator,
    PythonOperator,
    TaskGroup,
    XComArg,
    setup,
    task,
    teardown,
)
from tradewind.sdk.mapped_operator import DecoratedMappedOperator, MappedOperator, OperatorPartial

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_taskflow_expand_makes_a_mapped_task() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:

        @task
        def add_one(x: int) -> int:
            return x + 1

        @task
        def sum_it(values: list[int]) -> int:
            return sum(values)

        added_values = add_one.expand(x=[1, 2, 3])
        sum_it(added_values)

    mapped = dag.get_task("add_one")
    assert isinstance(added_values, XComArg)
    assert isinstance(mapped, DecoratedMappedOperator)
    assert isinstance(mapped, BaseOperator)
    assert mapped.is_mapped is True
    assert dag.get_task("sum_it").is_mapped is False
    assert mapped.operator_name == "@task"
    assert mapped.task_type == "_PythonDecoratedOperator"
    assert dag.get_task("sum_it").upstream_task_ids == {"add_one"}
    assert repr(mapped) == "<Mapped(_PythonDecoratedOperator): add_one>"


def test_classic_operator_partial_then_expand() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:
        partial = BashOperator.partial(task_id="echo", retries=2)
        mapped = partial.expand(bash_command=["echo 1", "echo 2"])

    assert isinstance(partial, OperatorPartial)
    assert repr(partial) == "BashOperator.partial(task_id='echo', retries=2)"
    assert isinstance(mapped, MappedOperator)
    assert dag.get_task("echo") is mapped
    assert mapped.operator_name == "BashOperator"
    assert mapped.task_type == "BashOperator"
    assert mapped.retries == 2
    assert mapped.template_fields == BashOperator.template_fields
    assert mapped.output.operator is mapped


def test_unmapped_operators_are_not_mapped() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None):
        plain = EmptyOperator(task_id="plain")
    assert plain.is_mapped is False
    assert plain.task_type == "EmptyOperator"


def test_xcom_args_in_expand_and_partial_are_upstream() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:

        @task
        def make_list() -> list[int]:
            return [1, 2]

        @task
        def offset() -> int:
            return 10

        @task
        def add(x: int, y: int) -> int:
            return x + y

        add.partial(y=offset()).expand(x=make_list())
        BashOperator.partial(task_id="echo", env={"N": offset()}).expand(bash_command=make_list())
        PythonOperator.partial(task_id="py", python_callable=print).expand_kwargs(
            [{"op_args": [make_list()]}]
        )

    assert dag.get_task("add").upstream_task_ids == {"make_list", "offset"}
    mapped = dag.get_task("add")
    assert isinstance(mapped, MappedOperator)
    assert [t.task_id for t in mapped.iter_mapped_dependencies()] == ["make_list"]
    assert dag.get_task("echo").upstream_task_ids == {"make_list__1", "offset__1"}
    assert dag.get_task("py").upstream_task_ids == {"make_list__2"}
    assert "add" in dag.get_task("make_list").downstream_task_ids


def test_map_zip_and_concat_sources_are_upstream() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:

        @task
        def left() -> list[int]:
            return [1]

        @task
        def right() -> list[int]:
            return [2]

        @task
        def show(value: object) -> None:
            print(value)

        a, b = left(), right()
        show.expand(value=a.map(str).zip(b))
        show.expand(value=a.concat(b))
        show(a.map(str))

    assert dag.get_task("show").upstream_task_ids == {"left", "right"}
    assert dag.get_task("show__1").upstream_task_ids == {"left", "right"}
    assert dag.get_task("show__2").upstream_task_ids == {"left"}


def test_bitshift_and_task_groups_work_with_mapped_tasks() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("grp"):

            @task
            def double(x: int) -> int:
                return 2 * x

            doubled = double.expand(x=[1, 2])
            echo = BashOperator.partial(task_id="echo").expand(bash_command=["echo a"])
        end = EmptyOperator(task_id="end")
        start >> doubled >> echo >> end

    assert dag.get_task("grp.double").upstream_task_ids == {"start"}
    assert dag.get_task("grp.echo").upstream_task_ids == {"grp.double"}
    assert dag.get_task("end").upstream_task_ids == {"grp.echo"}
    assert dag.task_group_dict["grp"].children.keys() == {"grp.double", "grp.echo"}
    assert dag.get_task("grp.echo").label == "echo"


def test_base_operator_arguments_hold_for_every_instance() -> None:
    with DAG(
        dag_id="example", start_date=START, schedule=None, default_args={"owner": "data"}
    ) as dag:

        @task(retries=3, pool="small", priority_weight=7, trigger_rule="all_done")
        def work(x: int) -> int:
            return x

        work.expand(x=[1])
        BashOperator.partial(
            task_id="echo",
            retry_delay=timedelta(seconds=5),
            pool_slots=2,
            queue="q",
            max_active_tis_per_dagrun=4,
            map_index_template="{{ task.bash_command }}",
        ).expand(bash_command=["echo 1"])

    work_task, echo = dag.get_task("work"), dag.get_task("echo")
    assert (work_task.retries, work_task.pool, work_task.priority_weight) == (3, "small", 7)
    assert work_task.trigger_rule == TriggerRule.ALL_DONE
    assert work_task.owner == "data"
    assert echo.retry_delay == timedelta(seconds=5)
    assert (echo.pool_slots, echo.queue, echo.max_active_tis_per_dagrun) == (2, "q", 4)
    assert echo.map_index_template == "{{ task.bash_command }}"
    assert work_task.map_index_template is None


def test_setup_and_teardown_can_be_mapped() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:

        @setup
        def create(name: str) -> str:
            return name

        @teardown
        def delete(name: str) -> None:
            print(name)

        created = create.expand(name=["a", "b"])
        created >> delete.expand(name=["a", "b"])

    assert dag.get_task("create").is_setup
    deleter = dag.get_task("delete")
    assert deleter.is_teardown
    assert deleter.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    dag.validate()


def test_partial_returns_a_new_decorator_and_leaves_the_original() -> None:
    with DAG(dag_id="example", start_date=START, schedule=None) as dag:

        @task
        def add(x: int, y: int) -> int:
            return x + y

        ten = add.partial(y=10)
        ten.expand(x=[1])
        add(1, 2)

    assert ten.partial_op_kwargs == {"y": 10}
    assert add.partial_op_kwargs == {}
    assert set(dag.task_dict) == {"add", "add__1"}
    assert dag.get_task("add__1").is_mapped is False


def test_default_args_reach_the_mapped_task() -> None:
    with DAG(
        dag_id="example",
        start_date=START,
        schedule=None,
        default_args={"retries": 4, "pool": "shared"},
    ) as dag:
        BashOperator.partial(task_id="echo").expand(bash_command=["echo 1"])
    echo = dag.get_task("echo")
    assert (echo.retries, echo.pool) == (4, "shared")
