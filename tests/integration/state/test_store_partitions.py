"""The state store's partition rules on real databases: which events a partitioned consumer
gets, the plan that assigns them to partitions and creates partition runs (one transaction,
compare-and-set), the carried partition date, and what a changed mapper drops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from protos.dag.v1 import message_pb2 as dag_pb2
from services.state.db import models
from services.state.db.engine import Database
from services.state.housekeeping import ensure_default_pool
from services.state.store import assets, partitions, runs
from services.state.store.admission import Refusal
from services.state.store.dag_files import store_dag
from services.state.store.errors import InvalidInput
from tests.helpers.dags import make_dag

HOURLY = dag_pb2.Asset(name="hourly", uri="s3://lake/hourly", group="asset", extra_json="{}")
OTHER = dag_pb2.Asset(name="other", uri="s3://lake/other", group="asset", extra_json="{}")
IDENTITY = dag_pb2.AssetPartitioning(
    default_mapper=dag_pb2.PartitionMapper(identity=dag_pb2.IdentityMapper())
)
START_OF_HOUR = dag_pb2.AssetPartitioning(
    default_mapper=dag_pb2.PartitionMapper(
        temporal=dag_pb2.TemporalMapper(
            period=dag_pb2.PARTITION_PERIOD_HOUR,
            timezone="UTC",
            input_format="%Y-%m-%dT%H:%M:%S",
            output_format="%Y-%m-%dT%H",
        )
    )
)
JUNE_14 = datetime(2026, 6, 14, 3, tzinfo=UTC)


def on(asset: dag_pb2.Asset) -> dag_pb2.AssetCondition:
    return dag_pb2.AssetCondition(asset=asset)


def store(
    database: Database,
    dag_id: str,
    *,
    partitioning: dag_pb2.AssetPartitioning | None = None,
    condition: dag_pb2.AssetCondition | None = None,
    max_active_runs: int = 16,
    outlets: list[dag_pb2.TaskAsset] | None = None,
) -> None:
    serialized = make_dag(
        dag_id,
        {"t": []},
        assets=condition,
        partitioning=partitioning,
        max_active_runs=max_active_runs,
        outlets={"t": outlets or []},
    )

    def write(session: Any) -> None:
        ensure_default_pool(session)
        store_dag(session, serialized, datetime.now(UTC))

    database.run_write(write)


def emit(database: Database, asset: dag_pb2.Asset, key: str = "") -> assets.RecordedEvent:
    return database.run_write(
        lambda s: assets.emit_asset_event(
            s, name="", uri=asset.uri, extra_json="{}", now=datetime.now(UTC), partition_key=key
        )
    )


def queued(database: Database, dag_id: str) -> list[partitions.QueuedPartitionEvent]:
    return database.run_write(
        lambda s: partitions.queued_partition_events(s, [dag_id]).get(dag_id, [])
    )


def pending(database: Database, dag_id: str) -> list[tuple[str, list[str]]]:
    def read(session: Any) -> list[tuple[str, list[str]]]:
        found = partitions.pending_partitions(session, [dag_id]).get(dag_id, [])
        return [(p.row.partition_key, [r.source_partition_key for r in p.received]) for p in found]

    return database.run_write(read)


def apply(database: Database, plan: partitions.PartitionPlan) -> partitions.PlanOutcome:
    def write(session: Any) -> partitions.PlanOutcome:
        outcome = partitions.apply_partition_plan(session, plan, datetime.now(UTC))
        for run in outcome.runs:
            session.refresh(run)
            session.expunge(run)
        return outcome

    return database.run_write(write)


def warnings_of(database: Database, dag_id: str) -> list[str]:
    return database.run_write(
        lambda s: list(
            s.scalars(
                select(models.DagWarning.message).where(
                    models.DagWarning.dag_id == dag_id,
                    models.DagWarning.warning_type == partitions.ASSET_PARTITION_WARNING,
                )
            )
        )
    )


def test_a_partitioned_event_queues_only_partitioned_consumers(database: Database) -> None:
    store(database, "by_partition", partitioning=IDENTITY, condition=on(HOURLY))
    store(database, "plain", condition=on(HOURLY))
    recorded = emit(database, HOURLY, "2026-06-14T03:00:00")
    assert recorded.queued_dag_ids == ["by_partition"]
    (event,) = queued(database, "by_partition")
    assert event.event.partition_key == "2026-06-14T03:00:00"
    plain = database.run_write(lambda s: assets.queued_events(s, ["plain"]))
    assert plain == {}
    # An event without a key feeds the plain consumer only, and warns the partitioned one.
    recorded = emit(database, HOURLY)
    assert recorded.queued_dag_ids == ["plain"]
    (warning,) = warnings_of(database, "by_partition")
    assert "has no partition key" in warning
    assert "add_partitions" in warning
    assert len(queued(database, "by_partition")) == 1


def test_a_plan_assigns_events_and_creates_the_partition_run(database: Database) -> None:
    store(database, "consumer", partitioning=START_OF_HOUR, condition=on(HOURLY))
    first = emit(database, HOURLY, "2026-06-14T03:00:00").event.id
    second = emit(database, HOURLY, "2026-06-14T03:30:00").event.id
    plan = partitions.PartitionPlan(
        "consumer",
        "",
        (
            partitions.Assignment(first, ("2026-06-14T03",)),
            partitions.Assignment(second, ("2026-06-14T03",)),
        ),
        (partitions.PlannedRun("2026-06-14T03", frozenset({first, second}), JUNE_14),),
    )
    outcome = apply(database, plan)
    assert outcome.refusal is None
    assert outcome.refused == []
    (run,) = outcome.runs
    assert run.partition_key == "2026-06-14T03"
    assert run.partition_date == JUNE_14
    assert run.run_type == "asset_triggered"
    assert run.run_id.endswith("__2026-06-14T03")
    assert queued(database, "consumer") == []
    assert pending(database, "consumer") == []  # deleted with its run
    consumed = database.run_write(
        lambda s: sorted(
            s.scalars(
                select(models.DagRunAssetEvent.asset_event_id).where(
                    models.DagRunAssetEvent.dag_run_id == run.id
                )
            )
        )
    )
    assert consumed == [first, second]
    # The same plan again names events no longer queued: refused as a whole.
    assert apply(database, plan).refusal is Refusal.STATE_CONFLICT


def test_an_incomplete_partition_waits_and_a_stale_count_is_refused(database: Database) -> None:
    store(database, "consumer", partitioning=START_OF_HOUR, condition=on(HOURLY))
    first = emit(database, HOURLY, "2026-06-14T03:00:00").event.id
    outcome = apply(
        database,
        partitions.PartitionPlan(
            "consumer", "", (partitions.Assignment(first, ("2026-06-14T03",)),), ()
        ),
    )
    assert outcome.refusal is None
    assert outcome.runs == []
    assert pending(database, "consumer") == [("2026-06-14T03", ["2026-06-14T03:00:00"])]
    # A run asked for from a view with other events than the partition has is refused alone.
    outcome = apply(
        database,
        partitions.PartitionPlan(
            "consumer",
            "",
            (),
            (partitions.PlannedRun("2026-06-14T03", frozenset({first, first + 1}), None),),
        ),
    )
    assert outcome.refusal is None
    assert outcome.refused == [("2026-06-14T03", Refusal.STATE_CONFLICT)]
    assert len(pending(database, "consumer")) == 1


def test_max_active_runs_holds_partitions_back(database: Database) -> None:
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY), max_active_runs=1)
    ids = [emit(database, HOURLY, key).event.id for key in ("a", "b")]
    outcome = apply(
        database,
        partitions.PartitionPlan(
            "consumer",
            "",
            tuple(partitions.Assignment(i, (k,)) for i, k in zip(ids, ("a", "b"), strict=True)),
            (
                partitions.PlannedRun("a", frozenset({ids[0]}), None),
                partitions.PlannedRun("b", frozenset({ids[1]}), None),
            ),
        ),
    )
    assert [run.partition_key for run in outcome.runs] == ["a"]
    assert outcome.refused == [("b", Refusal.ACTIVE_RUNS_LIMIT)]
    assert pending(database, "consumer") == [("b", ["b"])]


def test_a_fan_out_event_feeds_several_partitions_and_each_run_consumes_it(
    database: Database,
) -> None:
    store(database, "daily", partitioning=IDENTITY, condition=on(HOURLY))
    event = emit(database, HOURLY, "2026-06-08").event.id
    days = ("2026-06-08", "2026-06-09")
    outcome = apply(
        database,
        partitions.PartitionPlan(
            "daily",
            "",
            (partitions.Assignment(event, days),),
            tuple(partitions.PlannedRun(day, frozenset({event}), None) for day in days),
        ),
    )
    assert sorted(run.partition_key or "" for run in outcome.runs) == list(days)


def test_rejections_are_warnings_and_the_carried_date_follows_airflows_rule(
    database: Database,
) -> None:
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY))
    ids = [emit(database, HOURLY, "k").event.id for _ in range(4)]
    other = datetime(2026, 1, 2, tzinfo=UTC)
    apply(
        database,
        partitions.PartitionPlan(
            "consumer",
            "",
            (
                partitions.Assignment(ids[0], ("k",), None),
                partitions.Assignment(ids[1], ("k",), JUNE_14),  # adopted: none carried yet
                partitions.Assignment(ids[2], ("k",), other),  # disagrees: none carried
                partitions.Assignment(ids[3], (), rejection="failed to map partition_key: x"),
            ),
            (),
        ),
    )
    carried = database.run_write(
        lambda s: s.scalar(select(models.AssetPartition.carried_partition_date))
    )
    assert carried is None
    assert pending(database, "consumer") == [("k", ["k", "k", "k"])]
    assert warnings_of(database, "consumer") == ["failed to map partition_key: x"]


def test_a_changed_mapper_drops_pending_partitions(database: Database) -> None:
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY))
    event = emit(database, HOURLY, "2026-06-14T03:00:00").event.id
    apply(
        database,
        partitions.PartitionPlan(
            "consumer", "", (partitions.Assignment(event, ("2026-06-14T03:00:00",)),), ()
        ),
    )
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY), max_active_runs=3)
    assert len(pending(database, "consumer")) == 1  # another change, same mappers: kept
    elsewhere = dag_pb2.AssetPartitioning()
    elsewhere.CopyFrom(IDENTITY)
    elsewhere.asset_mappers.add(asset_name="other", mapper=START_OF_HOUR.default_mapper)
    store(database, "consumer", partitioning=elsewhere, condition=on(HOURLY))
    assert len(pending(database, "consumer")) == 1  # a mapper of an asset it is not on: kept
    store(database, "consumer", partitioning=START_OF_HOUR, condition=on(HOURLY))
    assert pending(database, "consumer") == []
    # No longer partitioned: what was queued for it as a partitioned consumer goes too.
    emit(database, HOURLY, "2026-06-14T04:00:00")
    store(database, "consumer", condition=on(HOURLY))
    assert queued(database, "consumer") == []


def test_a_plan_for_a_dag_that_is_not_partitioned_or_moved_on_is_refused(
    database: Database,
) -> None:
    store(database, "plain", condition=on(HOURLY))
    plan = partitions.PartitionPlan(
        "plain", "", (), (partitions.PlannedRun("k", frozenset({1}), None),)
    )
    assert apply(database, plan).refusal is Refusal.NOT_FOUND
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY))
    stale = partitions.PartitionPlan(
        "consumer", "0" * 64, (), (partitions.PlannedRun("k", frozenset({1}), None),)
    )
    assert apply(database, stale).refusal is Refusal.STALE_GENERATION


def test_a_run_triggered_for_a_partition_takes_its_date_from_the_timetable(
    database: Database,
) -> None:
    serialized = make_dag("cron_partitioned", {"t": []})
    serialized.definition.schedule.cron_partition.CopyFrom(
        dag_pb2.CronPartition(expression="0 * * * *", key_format="%Y-%m-%dT%H")
    )
    serialized.definition.schedule.timezone = "Asia/Taipei"

    def write(session: Any) -> None:
        ensure_default_pool(session)
        store_dag(session, serialized, datetime.now(UTC))

    database.run_write(write)

    def trigger(key: str) -> models.DagRun:
        def write(session: Any) -> models.DagRun:
            run, _ = runs.trigger_dag_run(
                session,
                "cron_partitioned",
                run_id=f"manual__{key}",
                logical_date=datetime.now(UTC),
                conf_json="{}",
                note="",
                request_id="",
                now=datetime.now(UTC),
                partition_key=key,
            )
            session.flush()
            session.refresh(run)
            session.expunge(run)
            return run

        return database.run_write(write)

    run = trigger("2026-06-14T11")
    assert run.partition_key == "2026-06-14T11"
    # Taipei's 11:00 is 03:00 UTC.
    assert run.partition_date == JUNE_14
    with pytest.raises(InvalidInput) as refused:
        trigger("June 14th")
    assert refused.value.field == "partition_key"
    assert "does not match the timetable's key_format '%Y-%m-%dT%H'" in refused.value.description


def test_a_task_names_the_partitions_of_its_events(database: Database) -> None:
    outlet = dag_pb2.TaskAsset(asset=HOURLY)
    store(database, "producer", outlets=[outlet])
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY))

    def produce(session: Any) -> list[tuple[str | None, datetime | None]]:
        dag = session.get(models.Dag, "producer")
        definition = make_dag("producer", {"t": []}, outlets={"t": [outlet]}).definition
        ti = models.TaskInstance(dag_id="producer", run_id="r", task_id="t", map_index=-1)
        run_partition = assets.RunPartition("us", JUNE_14)
        reports = [assets.OutletReport(asset=HOURLY, partition_keys=("eu", "us"))]
        recorded = assets.record_outlet_events(
            session, ti, definition.tasks[0], reports, datetime.now(UTC), run_partition
        )
        assert dag is not None
        plain = assets.record_outlet_events(
            session, ti, definition.tasks[0], [], datetime.now(UTC), run_partition
        )
        return [(r.event.partition_key, r.event.partition_date) for r in recorded + plain]

    # A named key other than the run's carries no date; the run's own key carries the run's.
    assert database.run_write(produce) == [("eu", None), ("us", JUNE_14), ("us", JUNE_14)]
    assert [q.event.partition_key for q in queued(database, "consumer")] == ["eu", "us", "us"]


def test_a_plan_made_before_a_partition_ran_and_gathered_anew_is_refused(
    database: Database,
) -> None:
    """Two schedulers: one runs partition k; new events of the same key gather a new k; the
    other's stale plan for the old k, with as many events, must not run the new one."""
    store(database, "consumer", partitioning=IDENTITY, condition=on(HOURLY), max_active_runs=5)
    old = [emit(database, HOURLY, "k").event.id for _ in range(2)]
    apply(
        database,
        partitions.PartitionPlan(
            "consumer", "", tuple(partitions.Assignment(i, ("k",)) for i in old), ()
        ),
    )
    stale = partitions.PartitionPlan(
        "consumer", "", (), (partitions.PlannedRun("k", frozenset(old), None),)
    )
    assert len(apply(database, stale).runs) == 1  # the first scheduler's
    new = [emit(database, HOURLY, "k").event.id for _ in range(2)]
    apply(
        database,
        partitions.PartitionPlan(
            "consumer", "", tuple(partitions.Assignment(i, ("k",)) for i in new), ()
        ),
    )
    outcome = apply(database, stale)  # the second scheduler's, late
    assert outcome.runs == []
    assert outcome.refused == [("k", Refusal.STATE_CONFLICT)]
    assert pending(database, "consumer") == [("k", ["k", "k"])]
