"""WeekDay: ISO day numbers, names in any case, and the forms a week_day argument takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tradewind import WeekDay


def test_the_values_are_iso_day_numbers() -> None:
    assert [day.value for day in WeekDay] == [1, 2, 3, 4, 5, 6, 7]
    assert int(WeekDay.MONDAY) == 1
    assert int(WeekDay.SUNDAY) == 7
    assert datetime(2024, 3, 17).isoweekday() in WeekDay.validate_week_day(WeekDay.SUNDAY)


@pytest.mark.parametrize("name", ["Sunday", "SUNDAY", "sunday", "sUnDaY"])
def test_a_name_in_any_case_is_a_day(name: str) -> None:
    assert WeekDay.get_weekday_number(name) is WeekDay.SUNDAY
    assert WeekDay.convert(name) is WeekDay.SUNDAY


def test_convert_keeps_a_weekday() -> None:
    assert WeekDay.convert(WeekDay.FRIDAY) is WeekDay.FRIDAY


@pytest.mark.parametrize("name", ["Funday", "Mon", ""])
def test_a_name_that_is_no_day_is_an_attribute_error(name: str) -> None:
    with pytest.raises(AttributeError, match="not the name of a day"):
        WeekDay.get_weekday_number(name)


@pytest.mark.parametrize(
    ("week_day", "numbers"),
    [
        ("MONDAY", {1}),
        ("Saturday", {6}),
        (WeekDay.TUESDAY, {2}),
        ({"Saturday", "Sunday"}, {6, 7}),
        ({WeekDay.SATURDAY, WeekDay.SUNDAY}, {6, 7}),
        (["monday", WeekDay.FRIDAY, "Friday"], {1, 5}),
        ({"Wednesday": "mid-week", "Thursday": None}, {3, 4}),  # a dict gives its keys
        ((), set()),
    ],
)
def test_validate_week_day(week_day: Any, numbers: set[int]) -> None:
    validated = WeekDay.validate_week_day(week_day)
    assert validated == numbers
    assert all(isinstance(day, WeekDay) for day in validated)


@pytest.mark.parametrize("week_day", [3, 1.5, None])
def test_validate_week_day_refuses_what_is_no_day_or_iterable(week_day: Any) -> None:
    with pytest.raises(TypeError, match="week_day must be"):
        WeekDay.validate_week_day(week_day)


def test_validate_week_day_refuses_an_item_that_is_no_day() -> None:
    with pytest.raises(TypeError, match="got int"):
        WeekDay.validate_week_day(["Monday", 2])  # type: ignore[list-item]
    with pytest.raises(AttributeError, match="'Someday'"):
        WeekDay.validate_week_day({"Monday", "Someday"})
