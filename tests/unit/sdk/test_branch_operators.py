"""BaseBranchOperator, BranchDateTimeOperator and BranchDayOfWeekOperator, run with dag.test()."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tradewind import (
    DAG,
    AirflowException,
    BaseBranchOperator,
    BranchDateTimeOperator,
    BranchDayOfWeekOperator,
    BranchPythonOperator,
    DagDefinitionError,
    EmptyOperator,
    TaskGroup,
    TaskInstanceState,
    WeekDay,
)
from tradewind.sdk import clock
from tradewind.sdk.operators.datetime import within_targets

SUCCESS, SKIPPED, FAILED = (
    TaskInstanceState.SUCCESS,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.FAILED,
)
START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def set_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Set the clock the calendar operators read."""

    def set_to(moment: dt.datetime) -> None:
        monkeypatch.setattr(clock, "utcnow", lambda: moment.astimezone(dt.UTC))

    return set_to


def states(dag: DAG, logical_date: dt.datetime | None = None) -> dict[str, TaskInstanceState]:
    result = dag.test(logical_date=logical_date)
    assert result.state == "success", result.task_states
    return result.task_states


# -- BaseBranchOperator ------------------------------------------------------------------------


class ChooseByParam(BaseBranchOperator):
    """Follows what the run's conf names (the way a user subclasses BaseBranchOperator)."""

    def choose_branch(self, context: Mapping[str, Any]) -> Any:
        return context["params"]["follow"]


def param_branch_dag() -> DAG:
    with DAG(dag_id="custom_branch", schedule=None, params={"follow": None}) as dag:
        choose = ChooseByParam(task_id="choose")
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        with TaskGroup("group") as group:
            EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
        join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
        choose >> [a, b, group] >> join
    return dag


@pytest.mark.parametrize(
    ("follow", "skipped"),
    [
        ("a", {"b", "group.first", "group.second"}),
        (["a", "b"], {"group.first", "group.second"}),
        ("group", {"a", "b"}),  # a group id stands for its roots
        (None, {"a", "b", "group.first", "group.second", "join"}),
        ([], {"a", "b", "group.first", "group.second", "join"}),
    ],
)
def test_a_subclass_follows_what_choose_branch_returns(follow: Any, skipped: set[str]) -> None:
    result = param_branch_dag().test(conf={"follow": follow})
    assert result.state == "success"
    assert {t for t, s in result.task_states.items() if s == SKIPPED} == skipped
    assert result.xcom("choose") == follow


def test_choose_branch_may_return_a_generator_or_a_set() -> None:
    class Generated(BaseBranchOperator):
        def choose_branch(self, context: Mapping[str, Any]) -> Iterator[str]:
            yield from ("b", "a")

    class AsSet(BaseBranchOperator):
        def choose_branch(self, context: Mapping[str, Any]) -> set[str]:
            return {"d", "c"}

    with DAG(dag_id="iterables", schedule=None) as dag:
        Generated(task_id="gen") >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
        AsSet(task_id="set") >> [EmptyOperator(task_id="c"), EmptyOperator(task_id="d")]
    result = dag.test()
    assert result.xcom("gen") == ["b", "a"]  # pushed as a list
    assert result.xcom("set") == ["c", "d"]
    assert SKIPPED not in result.task_states.values()


def test_a_subclass_without_choose_branch_fails_and_so_do_unknown_ids() -> None:
    with DAG(dag_id="broken", schedule=None) as dag:
        BaseBranchOperator(task_id="abstract") >> EmptyOperator(task_id="after_abstract")
    result = dag.test()
    assert result.task_states == {"abstract": FAILED, "after_abstract": "upstream_failed"}
    assert "does not implement choose_branch" in result.tries["abstract"][0].error.message  # type: ignore[union-attr]
    failed = param_branch_dag().test(conf={"follow": "nowhere"})
    assert failed.task_states["choose"] == FAILED
    assert "Invalid tasks found: ['nowhere']" in failed.tries["choose"][0].error.message  # type: ignore[union-attr]


def test_branch_python_operator_is_a_base_branch_operator() -> None:
    with DAG(dag_id="python_branch", schedule=None) as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: ["b"])
        branch >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
    assert isinstance(branch, BaseBranchOperator)
    assert states(dag) == {"branch": SUCCESS, "a": SKIPPED, "b": SUCCESS}


# -- BranchDateTimeOperator --------------------------------------------------------------------


def datetime_dag(
    lower: Any,
    upper: Any,
    *,
    use_task_logical_date: bool = False,
    start_date: dt.datetime = START,
) -> DAG:
    with DAG(
        dag_id="example_branch_datetime_operator",
        schedule="@daily",
        start_date=start_date,
        catchup=False,
    ) as dag:
        empty_task_1 = EmptyOperator(task_id="date_in_range")
        empty_task_2 = EmptyOperator(task_id="date_outside_range")
        cond = BranchDateTimeOperator(
            task_id="datetime_branch",
            follow_task_ids_if_true=["date_in_range"],
            follow_task_ids_if_false=["date_outside_range"],
            target_upper=upper,
            target_lower=lower,
            use_task_logical_date=use_task_logical_date,
        )
        cond >> [empty_task_1, empty_task_2]
    return dag


IN_RANGE = {"datetime_branch": SUCCESS, "date_in_range": SUCCESS, "date_outside_range": SKIPPED}
OUT_OF_RANGE = {"datetime_branch": SUCCESS, "date_in_range": SKIPPED, "date_outside_range": SUCCESS}
TARGETS = [
    (dt.datetime(2020, 7, 7, 10), dt.datetime(2020, 7, 7, 11)),
    (dt.time(10), dt.time(11)),
    (dt.datetime(2020, 7, 7, 10), dt.time(11)),
    (dt.time(10), dt.datetime(2020, 7, 7, 11)),
]


@pytest.mark.parametrize(("lower", "upper"), TARGETS)
def test_now_within_the_targets_follows_the_true_branch(
    lower: Any, upper: Any, set_now: Callable[[dt.datetime], None]
) -> None:
    set_now(dt.datetime(2020, 7, 7, 10, 54, 5, tzinfo=dt.UTC))
    assert states(datetime_dag(lower, upper)) == IN_RANGE


@pytest.mark.parametrize(("lower", "upper"), TARGETS)
@pytest.mark.parametrize(
    "now",
    [dt.datetime(2020, 7, 7, 12, tzinfo=dt.UTC), dt.datetime(2020, 6, 7, 9, tzinfo=dt.UTC)],
)
def test_now_outside_the_targets_follows_the_false_branch(
    lower: Any, upper: Any, now: dt.datetime, set_now: Callable[[dt.datetime], None]
) -> None:
    set_now(now)
    assert states(datetime_dag(lower, upper)) == OUT_OF_RANGE


@pytest.mark.parametrize("upper", [dt.datetime(2020, 7, 7, 11), dt.time(11)])
def test_only_an_upper_bound(upper: Any, set_now: Callable[[dt.datetime], None]) -> None:
    set_now(dt.datetime(2020, 7, 7, 10, 54, 5, tzinfo=dt.UTC))
    assert states(datetime_dag(None, upper)) == IN_RANGE
    set_now(dt.datetime(2020, 7, 7, 12, tzinfo=dt.UTC))
    assert states(datetime_dag(None, upper)) == OUT_OF_RANGE


@pytest.mark.parametrize("lower", [dt.datetime(2020, 7, 7, 10), dt.time(10)])
def test_only_a_lower_bound(lower: Any, set_now: Callable[[dt.datetime], None]) -> None:
    set_now(dt.datetime(2020, 7, 7, 10, 54, 5, tzinfo=dt.UTC))
    assert states(datetime_dag(lower, None)) == IN_RANGE
    set_now(dt.datetime(2020, 7, 7, 9, tzinfo=dt.UTC))
    assert states(datetime_dag(lower, None)) == OUT_OF_RANGE


@pytest.mark.parametrize(("lower", "upper"), TARGETS)
def test_use_task_logical_date_compares_the_logical_date_not_now(
    lower: Any, upper: Any, set_now: Callable[[dt.datetime], None]
) -> None:
    set_now(dt.datetime(2020, 12, 1, 9, tzinfo=dt.UTC))
    logical = dt.datetime(2020, 7, 7, 10, 30, tzinfo=dt.UTC)
    assert states(datetime_dag(lower, upper, use_task_logical_date=True), logical) == IN_RANGE


def test_without_use_task_logical_date_now_is_compared(
    set_now: Callable[[dt.datetime], None],
) -> None:
    set_now(dt.datetime(2020, 12, 1, 9, tzinfo=dt.UTC))
    logical = dt.datetime(2020, 7, 7, 10, 30, tzinfo=dt.UTC)
    assert states(datetime_dag(dt.time(10), dt.time(11)), logical) == OUT_OF_RANGE
    assert states(datetime_dag(dt.time(8), dt.time(10)), logical) == IN_RANGE


def test_the_bounds_are_included(set_now: Callable[[dt.datetime], None]) -> None:
    lower, upper = dt.time(10), dt.time(11)
    for moment, expected in [
        (dt.datetime(2020, 7, 7, 10, tzinfo=dt.UTC), IN_RANGE),
        (dt.datetime(2020, 7, 7, 11, tzinfo=dt.UTC), IN_RANGE),
        (dt.datetime(2020, 7, 7, 9, 59, 59, 999999, tzinfo=dt.UTC), OUT_OF_RANGE),
        (dt.datetime(2020, 7, 7, 11, 0, 0, 1, tzinfo=dt.UTC), OUT_OF_RANGE),
    ]:
        set_now(moment)
        assert states(datetime_dag(lower, upper)) == expected, moment


@pytest.mark.parametrize(
    ("moment", "within"),
    [
        (dt.datetime(2020, 7, 7, 22), True),
        (dt.datetime(2020, 7, 7, 23, 30), True),
        (dt.datetime(2020, 7, 7, 21, 59), False),
        # The window is put on the moment's date: 22:00 that day to 02:00 the next, so the
        # small hours of a day are before its window (Airflow's rule).
        (dt.datetime(2020, 7, 7, 1), False),
        (dt.datetime(2020, 7, 7, 2), False),
    ],
)
def test_an_upper_time_before_the_lower_one_crosses_midnight(
    moment: dt.datetime, within: bool, set_now: Callable[[dt.datetime], None]
) -> None:
    set_now(moment.replace(tzinfo=dt.UTC))
    dag = datetime_dag(dt.time(22), dt.time(2))
    assert states(dag) == (IN_RANGE if within else OUT_OF_RANGE)
    logical = moment.replace(tzinfo=dt.UTC)
    assert within_targets(logical, dt.time(22), dt.time(2), dt.UTC) is within


def test_two_datetimes_never_cross_midnight() -> None:
    lower, upper = dt.datetime(2020, 7, 7, 22), dt.datetime(2020, 7, 7, 2)
    assert within_targets(dt.datetime(2020, 7, 7, 23, tzinfo=dt.UTC), lower, upper, dt.UTC) is False
    assert within_targets(dt.datetime(2020, 7, 7, 1, tzinfo=dt.UTC), lower, upper, dt.UTC) is False


def test_a_time_and_a_datetime_cross_midnight_only_when_upper_is_before_lower() -> None:
    moment = dt.datetime(2020, 7, 7, 23, tzinfo=dt.UTC)
    lower = dt.time(22)  # 2020-07-07 22:00, on the moment's date
    assert within_targets(moment, lower, dt.datetime(2020, 7, 8, 2), dt.UTC)  # as written
    # An upper datetime before the lower bound is moved a day later, as an upper time is.
    assert within_targets(moment, lower, dt.datetime(2020, 7, 7, 2), dt.UTC)
    assert not within_targets(moment, lower, dt.datetime(2020, 7, 6, 2), dt.UTC)


def test_naive_targets_are_in_the_dags_time_zone(set_now: Callable[[dt.datetime], None]) -> None:
    dag = datetime_dag(dt.time(10), dt.time(11), start_date=dt.datetime(2020, 1, 1, tzinfo=PARIS))
    set_now(dt.datetime(2020, 7, 7, 8, 30, tzinfo=dt.UTC))  # 10:30 in Paris (UTC+2)
    assert states(dag) == IN_RANGE
    set_now(dt.datetime(2020, 7, 7, 10, 30, tzinfo=dt.UTC))  # 12:30 in Paris
    assert states(dag) == OUT_OF_RANGE
    aware = datetime_dag(dt.time(10, tzinfo=dt.UTC), dt.time(11, tzinfo=dt.UTC))
    assert states(aware) == IN_RANGE  # an aware target keeps its own zone


def test_both_targets_none_is_refused_as_airflow_does() -> None:
    with pytest.raises(DagDefinitionError, match="at least one") as raised:
        datetime_dag(None, None)
    assert isinstance(raised.value, AirflowException)
    assert raised.value.task_id == "datetime_branch"


@pytest.mark.parametrize("bad", ["10:00", 10, dt.date(2020, 7, 7), dt.timedelta(hours=1)])
def test_a_target_that_is_no_datetime_or_time_is_refused(bad: Any) -> None:
    with pytest.raises(DagDefinitionError, match=r"target_upper must be a datetime\.datetime"):
        datetime_dag(dt.time(10), bad)


def test_use_task_logical_date_must_be_a_bool() -> None:
    with pytest.raises(DagDefinitionError, match="use_task_logical_date"):
        datetime_dag(dt.time(10), None, use_task_logical_date="yes")  # type: ignore[arg-type]


# -- BranchDayOfWeekOperator -------------------------------------------------------------------

SUNDAY = dt.datetime(2024, 3, 17, 12, tzinfo=dt.UTC)
MONDAY = dt.datetime(2024, 3, 18, 12, tzinfo=dt.UTC)
SATURDAY = dt.datetime(2024, 3, 16, 12, tzinfo=dt.UTC)


def weekday_dag(
    week_day: Any, *, use_task_logical_date: bool = True, start_date: dt.datetime = START
) -> DAG:
    with DAG(
        dag_id="example_weekday_branch_operator",
        start_date=start_date,
        catchup=False,
        schedule="@daily",
    ) as dag:
        empty_task_1 = EmptyOperator(task_id="branch_true")
        empty_task_2 = EmptyOperator(task_id="branch_false")
        branch = BranchDayOfWeekOperator(
            task_id="make_choice",
            follow_task_ids_if_true="branch_true",
            follow_task_ids_if_false="branch_false",
            week_day=week_day,
            use_task_logical_date=use_task_logical_date,
        )
        branch >> [empty_task_1, empty_task_2]
    return dag


TRUE = {"make_choice": SUCCESS, "branch_true": SUCCESS, "branch_false": SKIPPED}
FALSE = {"make_choice": SUCCESS, "branch_true": SKIPPED, "branch_false": SUCCESS}


@pytest.mark.parametrize(
    ("week_day", "logical_date", "expected"),
    [
        ("Monday", MONDAY, TRUE),
        ("monday", SUNDAY, FALSE),
        (WeekDay.SUNDAY, SUNDAY, TRUE),
        ({WeekDay.SATURDAY, WeekDay.SUNDAY}, SATURDAY, TRUE),
        ({WeekDay.SATURDAY, WeekDay.SUNDAY}, SUNDAY, TRUE),
        ({WeekDay.SATURDAY, WeekDay.SUNDAY}, MONDAY, FALSE),
        ({"Saturday", "Sunday"}, MONDAY, FALSE),
        (["TUESDAY", WeekDay.MONDAY], MONDAY, TRUE),
    ],
)
def test_the_logical_dates_weekday_chooses(
    week_day: Any,
    logical_date: dt.datetime,
    expected: dict[str, TaskInstanceState],
    set_now: Callable[[dt.datetime], None],
) -> None:
    set_now(dt.datetime(2024, 3, 20, 12, tzinfo=dt.UTC))  # a Wednesday
    assert states(weekday_dag(week_day), logical_date) == expected


def test_without_logical_date_today_chooses(set_now: Callable[[dt.datetime], None]) -> None:
    set_now(MONDAY)
    assert states(weekday_dag("Monday", use_task_logical_date=False), SUNDAY) == TRUE
    set_now(SUNDAY)
    assert states(weekday_dag("Monday", use_task_logical_date=False), MONDAY) == FALSE


def test_today_is_the_day_in_the_dags_time_zone(set_now: Callable[[dt.datetime], None]) -> None:
    late_sunday = dt.datetime(2024, 3, 17, 23, 30, tzinfo=dt.UTC)  # Monday 00:30 in Paris
    set_now(late_sunday)
    paris = dt.datetime(2024, 1, 1, tzinfo=PARIS)
    assert states(weekday_dag("Monday", use_task_logical_date=False, start_date=paris)) == TRUE
    assert states(weekday_dag("Monday", use_task_logical_date=False)) == FALSE
    # The logical date's weekday is read in UTC, whatever the DAG's zone (as Airflow does).
    assert states(weekday_dag("Sunday", start_date=paris), late_sunday) == TRUE


@pytest.mark.parametrize(
    ("week_day", "message"),
    [("Funday", "'Funday' is not the name"), (3, "got int"), ({"Monday", 2}, "got int")],
)
def test_an_invalid_week_day_is_refused_when_the_dag_is_built(week_day: Any, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message) as raised:
        weekday_dag(week_day)
    assert raised.value.task_id == "make_choice"


def test_a_branch_may_be_a_task_group(set_now: Callable[[dt.datetime], None]) -> None:
    with DAG(dag_id="weekday_groups", schedule=None) as dag:
        check = BranchDayOfWeekOperator(
            task_id="check",
            week_day="Sunday",
            use_task_logical_date=True,
            follow_task_ids_if_true="weekend",
            follow_task_ids_if_false=["monday", "other"],
        )
        with TaskGroup("weekend") as weekend:
            EmptyOperator(task_id="relax")
        check >> [weekend, EmptyOperator(task_id="monday"), EmptyOperator(task_id="other")]
    assert states(dag, SUNDAY) == {
        "check": SUCCESS,
        "weekend.relax": SUCCESS,
        "monday": SKIPPED,
        "other": SKIPPED,
    }
    assert states(dag, MONDAY) == {
        "check": SUCCESS,
        "weekend.relax": SKIPPED,
        "monday": SUCCESS,
        "other": SUCCESS,
    }
