"""Waiting without holding a worker slot: a deferrable sensor, a reschedule-mode sensor, and a
run of another DAG that this one triggers and waits for in the triggerer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tradewind import (
    DAG,
    PokeReturnValue,
    TimeDeltaSensor,
    TriggerDagRunOperator,
    get_current_context,
    task,
)

with DAG(
    "example_sensors",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example"],
):
    # Deferred to the triggerer for a second past the run's data interval end.
    wait = TimeDeltaSensor(task_id="wait_a_second", delta=timedelta(seconds=1), deferrable=True)

    @task.sensor(poke_interval=1, timeout=60, mode="reschedule")
    def third_poke() -> PokeReturnValue:
        """Done on its third poke; between pokes it is up_for_reschedule, holding no slot."""
        pokes = get_current_context()["task_reschedule_count"] + 1
        print(f"poke {pokes}")
        return PokeReturnValue(is_done=pokes >= 3, xcom_value=pokes)

    run_etl = TriggerDagRunOperator(
        task_id="run_etl",
        trigger_dag_id="example_etl",
        conf={"multiplier": 2},
        wait_for_completion=True,
        deferrable=True,
        poke_interval=1,
    )

    wait >> third_poke() >> run_etl
