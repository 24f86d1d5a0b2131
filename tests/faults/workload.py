"""The DAG the fault tests run: extract >> WORKERS parallel workers >> join, with retries.

A doomed variant's last worker fails without retry, so its runs must end failed, with join
upstream_failed, whatever the faults do.
"""

#: Parallel workers between extract and join (each DAG run has WORKERS + 2 task instances).
WORKERS = 4
DOOMED_WORKER = f"work_{WORKERS - 1}"

DAG_SOURCE = """\
import time
from datetime import datetime, timedelta, timezone

from tradewind import DAG, AirflowFailException, task

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         default_args={{"retries": 6, "retry_delay": timedelta(seconds=0)}}):
    @task
    def extract():
        print("extracting")
        time.sleep(0.05)
        return 1

    @task
    def work(value, part):
        print(f"working on {{part}}")
        time.sleep(0.5)
        if part == {doomed_part}:
            raise AirflowFailException(f"part {{part}} is doomed")
        return value + part

    @task
    def join(*values):
        print("joining")
        return sum(values)

    first = extract()
    join(*[work.override(task_id=f"work_{{part}}")(first, part) for part in range({workers})])
""".replace("{workers}", str(WORKERS))


def dag_source(dag_id: str, *, doomed: bool = False) -> str:
    """The source of one workload DAG file."""
    return DAG_SOURCE.format(dag_id=dag_id, doomed_part=WORKERS - 1 if doomed else -1)


def join_value() -> int:
    """What ``join`` returns when every worker got extract's 1."""
    return sum(1 + part for part in range(WORKERS))
