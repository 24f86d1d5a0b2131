"""The standard sensors: poke, reschedule and deferrable modes, failure switches, @task.sensor."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tradewind import (
    DAG,
    BaseSensorOperator,
    BashSensor,
    Connection,
    DagDefinitionError,
    DateTimeSensor,
    DateTimeSensorAsync,
    DayOfWeekSensor,
    FileSensor,
    PokeReturnValue,
    PythonSensor,
    TaskInstanceState,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
    WaitSensor,
    WeekDay,
    dag,
    poke_mode_only,
    task,
)
from tradewind.sdk import clock, serde
from tradewind.sdk.execution import Resumption, TaskOutcome, TaskResult, execute_task
from tradewind.sdk.memory import InMemoryRuntime, InMemoryStore
from tradewind.sdk.runtime import use_runtime
from tradewind.sdk.serialization import fields_json
from tradewind.testing import run_dag

from .conftest import LOGICAL_DATE, START, context_for

NOW = dt.datetime(2024, 3, 15, 10, 0, tzinfo=dt.UTC)  # a Friday, as LOGICAL_DATE


@pytest.fixture
def freeze(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Set the clock the sensors read."""

    def set_clock(moment: dt.datetime) -> None:
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return set_clock


def run(op: BaseSensorOperator, **context: Any) -> TaskResult:
    return execute_task(op, context_for(op, **context), will_retry=True)


def resume(op: BaseSensorOperator, method: str, **kwargs: Any) -> TaskResult:
    return execute_task(op, context_for(op), resume=Resumption(method, kwargs))


def in_dag(make: Callable[[], BaseSensorOperator], **dag_kwargs: Any) -> BaseSensorOperator:
    with DAG("sensors", **dag_kwargs):
        return make()


def python_sensor(callable_: Callable[..., Any], **kwargs: Any) -> BaseSensorOperator:
    return in_dag(lambda: PythonSensor(task_id="wait", python_callable=callable_, **kwargs))


def counting(done_on: int) -> tuple[list[int], Callable[[], bool]]:
    """A poke that is done on its ``done_on``-th call, and the list of its calls."""
    calls: list[int] = []

    def poke() -> bool:
        calls.append(len(calls) + 1)
        return len(calls) >= done_on

    return calls, poke


# -- PythonSensor -------------------------------------------------------------------------


def test_python_sensor_gets_rendered_arguments_and_the_context(runtime: InMemoryRuntime) -> None:
    seen: dict[str, Any] = {}

    def ready(a: int, b: str, templates_dict: Any = None, ds: str = "") -> bool:
        seen.update(a=a, b=b, templates_dict=templates_dict, ds=ds)
        return True

    sensor = python_sensor(
        ready, op_args=[1], op_kwargs={"b": "{{ ds }}"}, templates_dict={"day": "{{ ds_nodash }}"}
    )
    result = run(sensor)
    assert result.outcome is TaskOutcome.SUCCESS
    assert result.xcoms == {}  # a bool poke pushes nothing
    assert seen == {
        "a": 1,
        "b": "2024-03-15",
        "templates_dict": {"day": "20240315"},
        "ds": "2024-03-15",
    }


def test_poke_return_value_becomes_the_return_value_xcom(runtime: InMemoryRuntime) -> None:
    result = run(python_sensor(lambda: PokeReturnValue(is_done=True, xcom_value={"rows": 3})))
    assert result.outcome is TaskOutcome.SUCCESS
    assert result.xcoms == {"return_value": {"rows": 3}}


def test_poke_mode_pokes_in_one_process_until_done(runtime: InMemoryRuntime) -> None:
    calls, poke = counting(done_on=3)
    started = time.monotonic()
    result = run(python_sensor(poke, poke_interval=0.05))
    assert result.outcome is TaskOutcome.SUCCESS
    assert calls == [1, 2, 3]
    assert time.monotonic() - started >= 0.1


def test_reschedule_mode_ends_the_process_with_the_next_poke_date(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    freeze(NOW)
    result = run(python_sensor(lambda: False, mode="reschedule", poke_interval=30))
    assert result.outcome is TaskOutcome.RESCHEDULED
    assert result.reschedule_date == NOW + dt.timedelta(seconds=30)


def test_reschedule_timeout_counts_from_the_first_poke(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    freeze(NOW)
    kwargs: dict[str, Any] = {"mode": "reschedule", "poke_interval": 60, "timeout": 3600}
    recent = {"task_reschedule_count": 3, "first_reschedule_date": NOW - dt.timedelta(minutes=10)}
    assert run(python_sensor(lambda: False, **kwargs), **recent).outcome is TaskOutcome.RESCHEDULED

    long_ago = {"task_reschedule_count": 3, "first_reschedule_date": NOW - dt.timedelta(hours=2)}
    timed_out = run(python_sensor(lambda: False, **kwargs), **long_ago)
    assert timed_out.outcome is TaskOutcome.FAILED_NO_RETRY  # not retried, though it could be
    assert timed_out.error is not None
    assert timed_out.error.type == "tradewind.sdk.exceptions.SensorTimeout"

    skipped = run(python_sensor(lambda: False, soft_fail=True, **kwargs), **long_ago)
    assert skipped.outcome is TaskOutcome.SKIPPED


def test_poke_mode_timeout_fails_without_retry_or_skips_with_soft_fail(
    runtime: InMemoryRuntime,
) -> None:
    failed = run(python_sensor(lambda: False, timeout=0))
    assert failed.outcome is TaskOutcome.FAILED_NO_RETRY
    assert failed.error is not None
    assert "Sensor has timed out" in failed.error.message
    assert run(python_sensor(lambda: False, timeout=0, soft_fail=True)).outcome is (
        TaskOutcome.SKIPPED
    )


def boom() -> bool:
    raise ValueError("the source is down")


def test_never_fail_skips_on_any_error(runtime: InMemoryRuntime) -> None:
    assert run(python_sensor(boom)).outcome is TaskOutcome.FAILED
    skipped = run(python_sensor(boom, never_fail=True))
    assert skipped.outcome is TaskOutcome.SKIPPED
    assert skipped.error is not None
    assert "never_fail" in skipped.error.message


def test_soft_fail_does_not_hide_an_ordinary_error(runtime: InMemoryRuntime) -> None:
    assert run(python_sensor(boom, soft_fail=True)).outcome is TaskOutcome.FAILED


def test_silent_fail_counts_an_error_as_not_yet(runtime: InMemoryRuntime) -> None:
    calls: list[int] = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("blip")
        return True

    result = run(python_sensor(flaky, silent_fail=True, poke_interval=0))
    assert result.outcome is TaskOutcome.SUCCESS
    assert len(calls) == 2


def test_sensor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        python_sensor(lambda: True, soft_fail=True, never_fail=True)
    with pytest.raises(ValueError, match="The mode must be one of"):
        python_sensor(lambda: True, mode="sometimes")
    with pytest.raises(ValueError, match="poke_interval"):
        python_sensor(lambda: True, poke_interval=-1)
    with pytest.raises(DagDefinitionError, match="callable"):
        python_sensor("not a function")  # type: ignore[arg-type]


# -- exponential back-off -----------------------------------------------------------------


def test_exponential_backoff_doubles_within_jitter_and_max_wait() -> None:
    sensor = python_sensor(lambda: False, poke_interval=5, exponential_backoff=True)
    intervals = [sensor._get_next_poke_interval(0.0, lambda: 0.0, n) for n in range(1, 5)]
    # Airflow's rule: at least poke_interval * 2**(n-2) (and 1 s), jittered below twice that.
    for interval, low in zip(intervals, [2, 5, 10, 20], strict=True):
        assert low <= interval < 2 * low
    assert intervals == [sensor._get_next_poke_interval(0.0, lambda: 0.0, n) for n in range(1, 5)]

    capped = python_sensor(lambda: False, poke_interval=5, exponential_backoff=True, max_wait=12)
    assert [capped._get_next_poke_interval(0.0, lambda: 0.0, n) for n in (3, 4)] == [12, 12]

    near_timeout = python_sensor(
        lambda: False, poke_interval=5, exponential_backoff=True, timeout=30
    )
    assert near_timeout._get_next_poke_interval(0.0, lambda: 27.0, 4) == 3


def test_poke_mode_sleeps_the_backoff_intervals(
    runtime: InMemoryRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    _, poke = counting(done_on=5)
    sensor = python_sensor(poke, poke_interval=1, exponential_backoff=True, max_wait=3)
    assert run(sensor).outcome is TaskOutcome.SUCCESS
    assert slept[:2] == [1, 1]
    assert slept[2] in (2, 3)
    assert slept[3] == 3  # 4 s or more, held to max_wait


def test_poke_mode_only_refuses_other_modes() -> None:
    @poke_mode_only
    class Patient(BaseSensorOperator):
        def poke(self, context: Any) -> bool:
            return True

    with DAG("sensors"):
        patient = Patient(task_id="patient")
        assert patient.mode == "poke"
        with pytest.raises(ValueError, match="Only 'poke' is acceptable"):
            Patient(task_id="impatient", mode="reschedule")
    with pytest.raises(ValueError, match="only be applied to sensors"):
        poke_mode_only(DAG)  # type: ignore[arg-type]


# -- BashSensor ---------------------------------------------------------------------------


def bash(command: str, **kwargs: Any) -> BaseSensorOperator:
    return in_dag(lambda: BashSensor(task_id="wait", bash_command=command, **kwargs))


def test_bash_sensor_exit_zero_is_done(runtime: InMemoryRuntime) -> None:
    assert run(bash("true\necho done")).outcome is TaskOutcome.SUCCESS


def test_bash_sensor_any_other_exit_is_not_yet_without_retry_exit_code(
    runtime: InMemoryRuntime,
) -> None:
    assert run(bash("exit 3", mode="reschedule")).outcome is TaskOutcome.RESCHEDULED


def test_bash_sensor_retry_exit_code(runtime: InMemoryRuntime) -> None:
    not_yet = run(bash("exit 1", retry_exit_code=1, mode="reschedule"))
    assert not_yet.outcome is TaskOutcome.RESCHEDULED

    failed = run(bash("exit 2", retry_exit_code=1, mode="reschedule"))
    assert failed.outcome is TaskOutcome.FAILED_NO_RETRY
    assert failed.error is not None
    assert failed.error.message == "Command exited with return code 2"

    skipped = run(bash("exit 2", retry_exit_code=1, soft_fail=True))
    assert skipped.outcome is TaskOutcome.SKIPPED


def test_bash_sensor_renders_its_command_and_env(runtime: InMemoryRuntime) -> None:
    sensor = bash('test "$DAY" = "{{ ds }}"', env={"DAY": "{{ ds }}"}, timeout=0)
    assert run(sensor).outcome is TaskOutcome.SUCCESS
    wrong_day = bash('test "$DAY" = 1999-01-01', env={"DAY": "{{ ds }}"}, timeout=0)
    assert run(wrong_day).outcome is TaskOutcome.FAILED_NO_RETRY  # timed out: never done


# -- FileSensor ---------------------------------------------------------------------------


@pytest.fixture
def landing(tmp_path: Path) -> Iterator[Path]:
    """A folder that the "fs_default" connection names as its base path."""
    store = InMemoryStore(
        connections={
            "fs_default": Connection(
                conn_id="fs_default", conn_type="fs", extra=json.dumps({"path": str(tmp_path)})
            ),
            "fs_no_base": Connection(conn_id="fs_no_base", conn_type="fs"),
        }
    )
    with use_runtime(store.runtime_for("wait")):
        yield tmp_path


def file_sensor(filepath: str, **kwargs: Any) -> BaseSensorOperator:
    return in_dag(lambda: FileSensor(task_id="wait", filepath=filepath, **kwargs))


def test_file_sensor_finds_a_file_under_the_connection_base_path(landing: Path) -> None:
    sensor = file_sensor("{{ ds_nodash }}/*.csv", mode="reschedule")
    assert run(sensor).outcome is TaskOutcome.RESCHEDULED
    (landing / "20240315").mkdir()
    assert run(sensor).outcome is TaskOutcome.RESCHEDULED  # an empty folder is not enough
    (landing / "20240315" / "sales.csv").write_text("1")
    assert run(sensor).outcome is TaskOutcome.SUCCESS


def test_file_sensor_folder_with_a_nested_file_and_recursive_globs(landing: Path) -> None:
    (landing / "drop" / "deep").mkdir(parents=True)
    (landing / "drop" / "deep" / "part.parquet").write_text("1")
    assert run(file_sensor("drop", timeout=0)).outcome is TaskOutcome.SUCCESS
    assert run(file_sensor("**/part.parquet", timeout=0)).outcome is (
        TaskOutcome.FAILED_NO_RETRY  # ** is one level without recursive
    )
    assert run(file_sensor("**/part.parquet", recursive=True, timeout=0)).outcome is (
        TaskOutcome.SUCCESS
    )


def test_file_sensor_connection_without_a_path_and_a_missing_connection(landing: Path) -> None:
    (landing / "ready").write_text("")
    absolute = file_sensor(str(landing / "ready"), fs_conn_id="fs_no_base", timeout=0)
    assert run(absolute).outcome is TaskOutcome.SUCCESS
    missing = run(file_sensor("ready", fs_conn_id="nowhere", timeout=0))
    assert missing.outcome is TaskOutcome.FAILED
    assert missing.error is not None
    assert missing.error.type == "tradewind.sdk.exceptions.ConnectionNotFound"


def test_deferrable_file_sensor_defers_to_a_file_trigger(landing: Path) -> None:
    sensor = file_sensor("in/*.csv", deferrable=True, poke_interval=7, timeout=600)
    result = run(sensor)
    assert result.outcome is TaskOutcome.DEFERRED
    assert result.deferral is not None
    assert result.deferral.trigger_classpath == "tradewind.sdk.triggers.file.FileTrigger"
    assert serde.loads(result.deferral.trigger_kwargs_json) == {
        "filepath": f"{landing}/in/*.csv",
        "recursive": False,
        "poke_interval": 7.0,
    }
    assert result.deferral.next_method == "execute_complete"
    assert result.deferral.timeout == dt.timedelta(seconds=600)

    assert resume(sensor, "execute_complete", event=True).outcome is TaskOutcome.SUCCESS
    not_found = resume(sensor, "execute_complete", event=False)
    assert not_found.outcome is TaskOutcome.FAILED
    assert not_found.error is not None
    assert not_found.error.message == "wait task failed as in/*.csv not found."


def test_deferrable_file_sensor_does_not_defer_for_a_file_already_there(landing: Path) -> None:
    (landing / "here.csv").write_text("")
    assert run(file_sensor("here.csv", deferrable=True)).outcome is TaskOutcome.SUCCESS


# -- TimeSensor ---------------------------------------------------------------------------


def test_time_sensor_targets_the_time_on_the_day_it_was_made(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    freeze(NOW)
    sensor = in_dag(lambda: TimeSensor(task_id="wait", target_time=dt.time(11), timeout=0))
    assert sensor.target_datetime == dt.datetime(2024, 3, 15, 11, tzinfo=dt.UTC)  # type: ignore[attr-defined]
    assert run(sensor).outcome is TaskOutcome.FAILED_NO_RETRY  # not yet, and no time to wait
    freeze(NOW + dt.timedelta(hours=1, seconds=1))
    assert run(sensor).outcome is TaskOutcome.SUCCESS


def test_time_sensor_reads_the_time_in_the_dag_time_zone(
    freeze: Callable[[dt.datetime], None],
) -> None:
    freeze(NOW)
    amsterdam = pendulum.datetime(2024, 1, 1, tz="Europe/Amsterdam")
    sensor = in_dag(
        lambda: TimeSensor(task_id="wait", target_time=dt.time(11)), start_date=amsterdam
    )
    # 11:00 in Amsterdam on 15 March (winter time, UTC+1) is 10:00 UTC.
    assert sensor.target_datetime == dt.datetime(2024, 3, 15, 10, tzinfo=dt.UTC)  # type: ignore[attr-defined]


def test_deferrable_time_sensor_defers_at_once_without_a_timeout(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    freeze(NOW + dt.timedelta(hours=5))  # past the target: Airflow still defers
    sensor = in_dag(lambda: TimeSensor(task_id="wait", target_time=dt.time(11), deferrable=True))
    result = run(sensor)
    assert result.outcome is TaskOutcome.DEFERRED
    assert result.deferral is not None
    assert result.deferral.trigger_classpath == "tradewind.sdk.triggers.temporal.DateTimeTrigger"
    kwargs = serde.loads(result.deferral.trigger_kwargs_json)
    assert kwargs == {
        "moment": dt.datetime(2024, 3, 15, 11, tzinfo=dt.UTC),
        "end_from_trigger": False,
    }
    assert result.deferral.timeout is None
    assert resume(sensor, "execute_complete", event=kwargs["moment"]).outcome is (
        TaskOutcome.SUCCESS
    )


def test_time_sensor_async_is_deprecated_and_deferrable(
    freeze: Callable[[dt.datetime], None],
) -> None:
    freeze(NOW)
    with pytest.warns(DeprecationWarning, match="TimeSensorAsync is deprecated"):
        sensor = in_dag(lambda: TimeSensorAsync(task_id="wait", target_time=dt.time(11)))
    assert sensor.deferrable is True  # type: ignore[attr-defined]


# -- TimeDeltaSensor and WaitSensor -------------------------------------------------------


def test_time_delta_sensor_counts_from_the_data_interval_end(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    end = dt.datetime(2024, 3, 16, tzinfo=dt.UTC)
    sensor = in_dag(
        lambda: TimeDeltaSensor(task_id="wait", delta=dt.timedelta(hours=2), mode="reschedule")
    )
    freeze(end + dt.timedelta(hours=2) - dt.timedelta(seconds=1))
    assert run(sensor, data_interval_end=end).outcome is TaskOutcome.RESCHEDULED
    freeze(end + dt.timedelta(hours=2, seconds=1))
    assert run(sensor, data_interval_end=end).outcome is TaskOutcome.SUCCESS


def test_time_delta_sensor_without_a_data_interval_counts_from_the_logical_date(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    sensor = in_dag(lambda: TimeDeltaSensor(task_id="wait", delta=dt.timedelta(hours=1)))
    freeze(LOGICAL_DATE + dt.timedelta(hours=1, seconds=1))
    assert run(sensor).outcome is TaskOutcome.SUCCESS  # data_interval_end is the logical date


def test_deferrable_time_delta_sensor(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    end = dt.datetime(2024, 3, 16, tzinfo=dt.UTC)
    sensor = in_dag(
        lambda: TimeDeltaSensor(
            task_id="wait", delta=dt.timedelta(hours=2), deferrable=True, timeout=900
        )
    )
    freeze(end)
    result = run(sensor, data_interval_end=end)
    assert result.outcome is TaskOutcome.DEFERRED
    assert result.deferral is not None
    moment = serde.loads(result.deferral.trigger_kwargs_json)["moment"]
    assert moment == end + dt.timedelta(hours=2)
    assert result.deferral.timeout == dt.timedelta(seconds=900)
    assert resume(sensor, "execute_complete", event=moment).outcome is TaskOutcome.SUCCESS

    freeze(end + dt.timedelta(hours=3))
    past = run(sensor, data_interval_end=end)
    assert past.outcome is TaskOutcome.SUCCESS
    assert past.xcoms == {"return_value": True}  # what Airflow returns when already past


def test_time_delta_sensor_async_is_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="TimeDeltaSensorAsync is deprecated"):
        sensor = in_dag(lambda: TimeDeltaSensorAsync(task_id="wait", delta=dt.timedelta(1)))
    assert sensor.deferrable is True  # type: ignore[attr-defined]


def test_wait_sensor_waits_from_its_start(runtime: InMemoryRuntime) -> None:
    minutes = in_dag(lambda: WaitSensor(task_id="wait", time_to_wait=3))
    assert minutes.time_to_wait == dt.timedelta(minutes=3)  # type: ignore[attr-defined]

    started = time.monotonic()
    short = in_dag(lambda: WaitSensor(task_id="wait", time_to_wait=dt.timedelta(seconds=0.1)))
    assert run(short).outcome is TaskOutcome.SUCCESS
    assert time.monotonic() - started >= 0.1

    deferring = in_dag(
        lambda: WaitSensor(task_id="wait", time_to_wait=dt.timedelta(hours=1), deferrable=True)
    )
    before = dt.datetime.now(dt.UTC)
    result = run(deferring)
    assert result.outcome is TaskOutcome.DEFERRED
    assert result.deferral is not None
    moment = serde.loads(result.deferral.trigger_kwargs_json)["moment"]
    assert (
        before + dt.timedelta(hours=1) <= moment <= dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    )
    assert resume(deferring, "execute_complete", event=moment).outcome is TaskOutcome.SUCCESS


# -- DateTimeSensor -----------------------------------------------------------------------


def test_date_time_sensor_renders_its_target(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    sensor = in_dag(
        lambda: DateTimeSensor(task_id="wait", target_time="{{ ds }}T11:00:00", mode="reschedule")
    )
    freeze(NOW)
    assert run(sensor).outcome is TaskOutcome.RESCHEDULED
    freeze(NOW + dt.timedelta(hours=1, seconds=1))
    assert run(sensor).outcome is TaskOutcome.SUCCESS


def test_date_time_sensor_takes_a_naive_datetime_as_utc(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    freeze(NOW)
    naive = dt.datetime(2024, 3, 15, 9, 59)
    assert run(in_dag(lambda: DateTimeSensor(task_id="wait", target_time=naive))).outcome is (
        TaskOutcome.SUCCESS
    )
    wrong = run(in_dag(lambda: DateTimeSensor(task_id="wait", target_time=5)))  # type: ignore[arg-type]
    assert wrong.outcome is TaskOutcome.FAILED
    assert wrong.error is not None
    assert wrong.error.type == "TypeError"


@pytest.mark.parametrize(
    "make",
    [
        lambda: DateTimeSensorAsync(task_id="wait", target_time="{{ ds }}T11:00:00+01:00"),
        lambda: DateTimeSensor(
            task_id="wait", target_time="{{ ds }}T11:00:00+01:00", deferrable=True
        ),
    ],
)
def test_deferrable_date_time_sensor_defers_at_once(
    runtime: InMemoryRuntime, make: Callable[[], BaseSensorOperator]
) -> None:
    sensor = in_dag(make)
    result = run(sensor)
    assert result.outcome is TaskOutcome.DEFERRED
    assert result.deferral is not None
    kwargs = serde.loads(result.deferral.trigger_kwargs_json)
    assert kwargs["moment"] == dt.datetime(2024, 3, 15, 10, tzinfo=dt.UTC)
    assert result.deferral.timeout is None
    assert resume(sensor, "execute_complete", event=None).outcome is TaskOutcome.SUCCESS


# -- DayOfWeekSensor ----------------------------------------------------------------------


def test_day_of_week_sensor_with_the_logical_date(runtime: InMemoryRuntime) -> None:
    friday = in_dag(
        lambda: DayOfWeekSensor(task_id="wait", week_day="friday", use_task_logical_date=True)
    )
    assert run(friday).outcome is TaskOutcome.SUCCESS
    weekend = in_dag(
        lambda: DayOfWeekSensor(
            task_id="wait",
            week_day={WeekDay.SATURDAY, "Sunday"},
            use_task_logical_date=True,
            mode="reschedule",
        )
    )
    assert run(weekend).outcome is TaskOutcome.RESCHEDULED


def test_day_of_week_sensor_with_today_in_utc(
    runtime: InMemoryRuntime, freeze: Callable[[dt.datetime], None]
) -> None:
    sensor = in_dag(
        lambda: DayOfWeekSensor(task_id="wait", week_day=["Saturday"], mode="reschedule")
    )
    freeze(NOW)
    assert run(sensor).outcome is TaskOutcome.RESCHEDULED
    freeze(NOW + dt.timedelta(days=1))
    assert run(sensor).outcome is TaskOutcome.SUCCESS


def test_day_of_week_sensor_refuses_a_day_that_is_not_one() -> None:
    with pytest.raises(DagDefinitionError, match="week_day"):
        in_dag(lambda: DayOfWeekSensor(task_id="wait", week_day="Funday"))


# -- @task.sensor -------------------------------------------------------------------------


@dag(schedule=None, start_date=START)
def wait_then_use() -> None:
    calls: list[int] = []

    @task.sensor(poke_interval=0.05, timeout=5, mode="poke")
    def wait_for_upstream() -> PokeReturnValue:
        calls.append(1)
        return PokeReturnValue(is_done=len(calls) >= 2, xcom_value="xcom_value")

    @task
    def use(value: str) -> str:
        return value.upper()

    use(wait_for_upstream())


def test_task_sensor_pushes_its_poke_return_value() -> None:
    built = wait_then_use()
    sensor = built.task_dict["wait_for_upstream"]
    assert isinstance(sensor, PythonSensor)
    assert sensor.operator_name == "@task.sensor"
    assert sensor.multiple_outputs is False
    result = run_dag(built)
    assert result.state == "success"
    assert result.xcom("wait_for_upstream") == "xcom_value"
    assert result.xcom("use") == "XCOM_VALUE"


def test_task_sensor_timeout_with_soft_fail_skips_downstream() -> None:
    with DAG("soft") as built:

        @task.sensor(timeout=0, soft_fail=True)
        def never() -> bool:
            return False

        @task
        def after() -> None:
            pass

        never() >> after()

    result = run_dag(built)
    assert result.task_states == {
        "never": TaskInstanceState.SKIPPED,
        "after": TaskInstanceState.SKIPPED,
    }


def test_task_sensor_keeps_a_dict_whole() -> None:
    with DAG("whole"):

        @task.sensor
        def rows() -> dict[str, int]:
            return {"a": 1}

        made = rows().operator

    assert made.multiple_outputs is False  # Airflow never infers it for @task.sensor
    with pytest.raises(TypeError, match="multiple_outputs"):
        task.sensor(multiple_outputs=True)


def test_sensor_fields_are_stable_for_the_serialised_dag(
    freeze: Callable[[dt.datetime], None],
) -> None:
    freeze(NOW)
    first = in_dag(lambda: TimeSensor(task_id="wait", target_time=dt.time(11)))
    freeze(NOW + dt.timedelta(days=1))
    second = in_dag(lambda: TimeSensor(task_id="wait", target_time=dt.time(11)))
    assert fields_json(first) == fields_json(second)  # the day it was parsed is not shown
    assert json.loads(fields_json(file_sensor("a/{{ ds }}"))) == {
        "deferrable": False,
        "filepath": "a/{{ ds }}",
        "fs_conn_id": "fs_default",
        "recursive": False,
    }
