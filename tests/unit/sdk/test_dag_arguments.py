"""DAG and task arguments: defaults, default_args precedence, schedules, dates, params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tradewind import (
    DAG,
    BashOperator,
    EmptyOperator,
    Param,
    ParamValidationError,
    TriggerRule,
    WeightRule,
)
from tradewind.sdk.exceptions import DagDefinitionError
from tradewind.sdk.params import resolve_params
from tradewind.sdk.schedule import describe_interval
from tradewind.sdk.timetables import (
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    NullTimetable,
    OnceTimetable,
)

from .conftest import START


def test_airflow_defaults() -> None:
    with DAG("d") as built:
        op = EmptyOperator(task_id="t")
    assert (built.catchup, built.max_active_runs, built.max_active_tasks) == (False, 16, 16)
    assert isinstance(built.timetable, NullTimetable)
    assert built.owner == "airflow"
    assert (op.pool, op.pool_slots, op.queue) == ("default_pool", 1, "default")
    assert (op.priority_weight, op.weight_rule) == (1, WeightRule.DOWNSTREAM)
    assert (op.retries, op.retry_delay) == (0, timedelta(seconds=300))
    assert op.trigger_rule is TriggerRule.ALL_SUCCESS
    assert op.execution_timeout is None
    assert op.max_retry_delay is None


def test_default_args_apply_and_explicit_arguments_win() -> None:
    default_args = {
        "owner": "data",
        "retries": 3,
        "retry_delay": 30,
        "queue": "etl",
        "pool": "warehouse",
        "env": {"A": "1"},  # a BashOperator argument: only BashOperators take it
        "email_on_failure": False,  # accepted as in Airflow, not acted on
        "start_date": START,
    }
    with DAG("d", default_args=default_args) as built:
        plain = EmptyOperator(task_id="plain")
        explicit = EmptyOperator(task_id="explicit", retries=0, queue="fast")
        bash = BashOperator(task_id="bash", bash_command="true")
        own = EmptyOperator(task_id="own", default_args={"retries": 7})
    assert (plain.owner, plain.retries, plain.queue, plain.pool) == ("data", 3, "etl", "warehouse")
    assert plain.retry_delay == timedelta(seconds=30)
    assert (explicit.retries, explicit.queue) == (0, "fast")
    assert bash.env == {"A": "1"}
    assert own.retries == 7
    assert built.owner == "data"
    assert built.start_date == START


def test_task_level_trigger_rule_accepts_enum_and_string() -> None:
    with DAG("d"):
        by_enum = EmptyOperator(task_id="e", trigger_rule=TriggerRule.ONE_FAILED)
        by_name = EmptyOperator(task_id="s", trigger_rule="none_failed_min_one_success")
    assert by_enum.trigger_rule is TriggerRule.ONE_FAILED
    assert by_name.trigger_rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS


@pytest.mark.parametrize(
    ("preset", "cron"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_presets_expand_to_cron(preset: str, cron: str) -> None:
    built = DAG("d", schedule=preset, start_date=START)
    assert isinstance(built.timetable, CronTriggerTimetable)  # Airflow 3's meaning
    assert (built.timetable.expression, built.schedule_spec.description) == (cron, preset)


def test_other_schedules() -> None:
    once = DAG("once", schedule="@once", start_date=START)
    cron = DAG("cron", schedule="*/5  * * * 1-5", start_date=START)
    delta = DAG("delta", schedule=timedelta(hours=1, minutes=30), start_date=START)
    manual = DAG("manual", schedule=None)
    assert isinstance(once.timetable, OnceTimetable)
    assert isinstance(cron.timetable, CronTriggerTimetable)
    assert (cron.timetable.expression, cron.schedule_spec.description) == (
        "*/5 * * * 1-5",
        "*/5  * * * 1-5",
    )
    assert isinstance(delta.timetable, DeltaTriggerTimetable)
    assert delta.timetable.delta == timedelta(hours=1, minutes=30)
    assert delta.schedule_spec.description == "timedelta(hours=1, minutes=30)"
    assert isinstance(manual.timetable, NullTimetable)
    assert describe_interval(timedelta(days=2, seconds=1)) == "timedelta(days=2, seconds=1)"


def test_naive_dates_are_utc_and_aware_ones_set_the_time_zone() -> None:
    naive = DAG("naive", schedule="@daily", start_date=datetime(2024, 1, 1))
    paris = DAG(
        "paris",
        schedule="@daily",
        start_date=datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
        end_date=datetime(2024, 6, 1),
    )
    fixed = DAG("fixed", start_date=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert naive.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert naive.timezone_name == "UTC"
    assert paris.timezone_name == "Europe/Paris"
    assert paris.end_date is not None
    assert paris.end_date.tzinfo is UTC
    assert fixed.timezone_name == "Etc/GMT-2"


def test_params_defaults_conf_overrides_and_schema() -> None:
    params = {
        "limit": Param(10, type="integer", minimum=1),
        "mode": Param("full", enum=["full", "delta"]),
        "plain": [1, 2],
        "required": Param(type="string"),
    }
    assert resolve_params(params, {"required": "x"}) == {
        "limit": 10,
        "mode": "full",
        "plain": [1, 2],
        "required": "x",
    }
    assert resolve_params(params, {"limit": 3, "required": "y", "extra": True})["limit"] == 3
    with pytest.raises(ParamValidationError, match="param 'limit' 0 is less than the minimum"):
        resolve_params(params, {"limit": 0, "required": "x"})
    with pytest.raises(ParamValidationError, match="param 'mode' 'x' is not one of"):
        resolve_params(params, {"mode": "x", "required": "x"})
    with pytest.raises(ParamValidationError, match="'required' has no default"):
        resolve_params(params, {})


def test_inert_airflow_arguments_are_accepted() -> None:
    with DAG(
        "compat",
        access_control={},
        owner_links={"data": "https://example.com"},
        fail_fast=True,
        dag_display_name="Compat",
        is_paused_upon_creation=True,
    ) as built:
        op = EmptyOperator(
            task_id="t",
            depends_on_past=True,
            email=["a@example.com"],
            max_active_tis_per_dag=2,
            task_display_name="T",
        )
    assert built.is_paused_upon_creation is True
    assert op.depends_on_past is True


def test_the_data_interval_settings_choose_airflow_2s_meaning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND_CREATE_CRON_DATA_INTERVALS", "true")
    monkeypatch.setenv("TRADEWIND_CREATE_DELTA_DATA_INTERVALS", "yes")
    assert isinstance(
        DAG("c", schedule="@daily", start_date=START).timetable, CronDataIntervalTimetable
    )
    assert isinstance(
        DAG("d", schedule=timedelta(hours=1), start_date=START).timetable,
        DeltaDataIntervalTimetable,
    )
    monkeypatch.setenv("TRADEWIND_CREATE_CRON_DATA_INTERVALS", "maybe")
    with pytest.raises(DagDefinitionError, match="TRADEWIND_CREATE_CRON_DATA_INTERVALS"):
        DAG("e", schedule="@daily", start_date=START)


def test_continuous_needs_max_active_runs_of_one() -> None:
    with pytest.raises(DagDefinitionError, match="requires max_active_runs <= 1"):
        DAG("c", schedule="@continuous", start_date=START)
    built = DAG("c", schedule="@continuous", start_date=START, max_active_runs=1)
    assert isinstance(built.timetable, ContinuousTimetable)


def test_a_trigger_timetable_needs_no_start_date_but_a_data_interval_one_does() -> None:
    assert DAG("t", schedule="@daily").start_date is None
    with pytest.raises(DagDefinitionError, match="needs a start_date"):
        DAG("d", schedule=CronDataIntervalTimetable("@daily"))
