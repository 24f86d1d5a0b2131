"""Partitioned assets: runs for partitions, and consumers that run once per partition.

A partition is a slice of an asset named by a key: an hour of player statistics, a region
of sales. A producer's run is for one partition (``CronPartitionTimetable`` names it after
the tick; ``PartitionedAtRuntime`` takes it from the trigger), and its events carry the key.
A consumer on ``PartitionedAssetTimetable`` maps each upstream key to its own with a partition
mapper and runs once per partition of its own:

* ``example_hourly_player_report``: each hourly key as its hour (StartOfHourMapper);
* ``example_all_regions_summary``: one run once every region has arrived (a rollup:
  FixedKeyMapper + SegmentWindow), ``example_two_regions_summary`` as soon as two have
  (MinimumCount);
* ``example_daily_inference``: a weekly model fans out to a run per day of its week
  (FanOutMapper + WeekWindow).

Trigger the producers by hand with a partition key, e.g.::

    tradewind dags trigger example_ingest_player_stats --partition-key 2026-06-14T03:00:00
    tradewind dags trigger example_ingest_regional_sales
    tradewind dags trigger example_train_weekly_model --partition-key 2026-06-08T00:00:00
    tradewind assets queued --partitions
"""

from __future__ import annotations

from typing import Any

from tradewind import (
    DAG,
    Asset,
    CronPartitionTimetable,
    FanOutMapper,
    FixedKeyMapper,
    MinimumCount,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
    RollupMapper,
    SegmentWindow,
    StartOfHourMapper,
    StartOfWeekMapper,
    WeekWindow,
    task,
)

player_stats = Asset(uri="file:///tmp/tradewind-examples/player-stats.csv", name="player_stats")
hourly_report = Asset(uri="file:///tmp/tradewind-examples/hourly-report.csv", name="hourly_report")
regional_sales = Asset(
    uri="file:///tmp/tradewind-examples/regional-sales.csv", name="regional_sales"
)
weekly_model = Asset(uri="file:///tmp/tradewind-examples/weekly-model.bin", name="weekly_model")
REGIONS = ["us", "eu", "apac"]


def describe(dag_run: Any, triggering_asset_events: Any) -> dict[str, Any]:
    """What a partition run saw: its key and date, and the upstream keys that made it."""
    return {
        "partition_key": dag_run.partition_key,
        "partition_date": dag_run.partition_date.isoformat() if dag_run.partition_date else None,
        "upstream_keys": sorted(
            event.partition_key for events in triggering_asset_events.values() for event in events
        ),
    }


with DAG(
    dag_id="example_ingest_player_stats",
    schedule=CronPartitionTimetable("0 * * * *", timezone="UTC"),
    tags=["example", "assets", "partitions"],
):

    @task(outlets=[player_stats])
    def ingest_stats(dag_run: Any = None) -> str:
        """Load the player statistics of the run's hour (its partition)."""
        return str(dag_run.partition_key)

    ingest_stats()


with DAG(
    dag_id="example_hourly_player_report",
    schedule=PartitionedAssetTimetable(
        assets=player_stats, default_partition_mapper=StartOfHourMapper()
    ),
    tags=["example", "assets", "partitions"],
):

    @task(outlets=[hourly_report])
    def report(dag_run: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Report on one hour of statistics."""
        return describe(dag_run, triggering_asset_events)

    report()


with DAG(
    dag_id="example_ingest_regional_sales",
    schedule=PartitionedAtRuntime(),
    tags=["example", "assets", "partitions"],
):

    @task(outlets=[regional_sales])
    def ingest_sales(outlet_events: Any = None) -> list[str]:
        """Load every region's sales: one event (one partition) per region."""
        outlet_events[regional_sales].add_partitions(REGIONS)
        return REGIONS

    ingest_sales()


with DAG(
    dag_id="example_all_regions_summary",
    schedule=PartitionedAssetTimetable(
        assets=regional_sales,
        default_partition_mapper=RollupMapper(
            upstream_mapper=FixedKeyMapper("all_regions"), window=SegmentWindow(REGIONS)
        ),
    ),
    tags=["example", "assets", "partitions"],
):

    @task
    def summarise(dag_run: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Summarise the sales once every region has arrived."""
        return describe(dag_run, triggering_asset_events)

    summarise()


with DAG(
    dag_id="example_two_regions_summary",
    schedule=PartitionedAssetTimetable(
        assets=regional_sales,
        default_partition_mapper=RollupMapper(
            upstream_mapper=FixedKeyMapper("any_two_regions"),
            window=SegmentWindow(REGIONS),
            wait_policy=MinimumCount(2),
        ),
    ),
    tags=["example", "assets", "partitions"],
):

    @task
    def summarise_early(dag_run: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Summarise as soon as two of the three regions have arrived."""
        return describe(dag_run, triggering_asset_events)

    summarise_early()


with DAG(
    dag_id="example_train_weekly_model",
    schedule=CronPartitionTimetable("0 0 * * 1", timezone="UTC"),
    tags=["example", "assets", "partitions"],
):

    @task(outlets=[weekly_model])
    def train() -> None:
        """Train the week's model."""

    train()


with DAG(
    dag_id="example_daily_inference",
    schedule=PartitionedAssetTimetable(
        assets=weekly_model,
        default_partition_mapper=FanOutMapper(
            upstream_mapper=StartOfWeekMapper(), window=WeekWindow(), max_downstream_keys=7
        ),
    ),
    tags=["example", "assets", "partitions"],
):

    @task
    def infer(dag_run: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        """Score one day of the model's week."""
        return describe(dag_run, triggering_asset_events)

    infer()
