"""AssetAccessControl as Airflow 3.3 writes it, and where it travels in a DAG's definition."""

from __future__ import annotations

import pytest

from tradewind import DAG, Asset, AssetAccessControl, EmptyOperator
from tradewind.sdk.assets import asset_message
from tradewind.sdk.serialization import dag_definition


def test_the_defaults_travel_as_nothing_and_the_rest_as_written() -> None:
    assert not asset_message(Asset("a")).HasField("access_control")
    control = AssetAccessControl(producer_teams=["ops"], consumer_teams=[], allow_global=False)
    message = asset_message(Asset("a", access_control=control)).access_control
    assert list(message.producer_teams) == ["ops"]
    assert message.HasField("consumer_teams")
    assert list(message.consumer_teams.teams) == []
    assert message.allow_global is False
    assert AssetAccessControl().consumer_teams is None
    assert AssetAccessControl() == AssetAccessControl(producer_teams=[], allow_global=True)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"producer_teams": [""]}, ValueError, "Each entry in producer_teams must be a non-empty"),
        ({"consumer_teams": [" "]}, ValueError, "Each entry in consumer_teams must be a non-empty"),
        ({"producer_teams": "ops"}, TypeError, "producer_teams must be a list of team names"),
        ({"allow_global": "no"}, TypeError, "allow_global must be a bool"),
    ],
)
def test_bad_arguments(arguments: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        AssetAccessControl(**arguments)  # type: ignore[arg-type]


def test_a_schedule_and_an_outlet_carry_their_access_control() -> None:
    consumed = Asset("orders", access_control=AssetAccessControl(producer_teams=["ops"]))
    produced = Asset("orders", access_control=AssetAccessControl(consumer_teams=["sales"]))
    with DAG("consumer", schedule=[consumed]) as consumer:
        EmptyOperator(task_id="t", outlets=[produced])
    definition = dag_definition(consumer, fileloc="/dags/c.py", relative_fileloc="c.py")
    (part,) = definition.schedule.assets.all.parts
    assert list(part.asset.access_control.producer_teams) == ["ops"]
    (outlet,) = definition.tasks[0].outlets
    assert list(outlet.asset.access_control.consumer_teams.teams) == ["sales"]
