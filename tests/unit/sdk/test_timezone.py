"""``tradewind.sdk.timezone``: Airflow's time zone helpers."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from tradewind.sdk import timezone


def test_aware_and_naive_datetimes_are_told_apart_and_converted() -> None:
    naive = dt.datetime(2024, 3, 31, 1, 30)
    assert timezone.is_naive(naive)
    aware = timezone.make_aware(naive, "Europe/Paris")
    assert timezone.is_localized(aware)
    assert timezone.convert_to_utc(aware) == dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)
    assert timezone.convert_to_utc(naive) == dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.UTC)
    assert timezone.convert_to_utc(None) is None
    assert timezone.make_naive(aware, "Asia/Tokyo") == dt.datetime(2024, 3, 31, 9, 30)
    with pytest.raises(ValueError, match="naive"):
        timezone.make_naive(naive)
    with pytest.raises(ValueError, match="naive"):
        timezone.make_aware(aware)


def test_constructors_default_to_utc() -> None:
    made = timezone.datetime(2024, 1, 2, 3)
    assert isinstance(made, pendulum.DateTime)
    assert made.utcoffset() == dt.timedelta(0)
    assert timezone.parse("2024-01-02T03:00:00") == made
    assert timezone.parse("2024-01-02T04:00:00+01:00") == made
    assert timezone.parse("2024-01-02 04:00", "Europe/Paris") == made
    assert timezone.from_timestamp(0) == timezone.utc_epoch()
    assert timezone.utcnow().utcoffset() == dt.timedelta(0)
    assert timezone.coerce_datetime(dt.datetime(2024, 1, 2, 3)) == made
    assert timezone.coerce_datetime(None) is None
