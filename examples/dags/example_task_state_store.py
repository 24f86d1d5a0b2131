"""The task state store: a retried task finds what its earlier try kept.

``submit`` starts an (imaginary) external job and keeps its id in ``task_state_store`` before
it crashes on its first try; the retry finds the id and does not start a second job. The key
lives a day; ``NEVER_EXPIRE`` keeps one for good.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tradewind import NEVER_EXPIRE, dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["example"])
def example_task_state_store():
    @task(retries=1, retry_delay=timedelta(seconds=0))
    def submit(**context) -> str:
        store = context["task_state_store"]
        job_id = store.get("job_id")
        if job_id is None:
            job_id = f"job-{uuid.uuid4().hex[:8]}"
            store.set("job_id", job_id, retention=timedelta(days=1))
            store.set("first_try", context["ti"].try_number, retention=NEVER_EXPIRE)
            print(f"submitted {job_id}")
            raise ConnectionError("lost the connection while waiting for the job")
        print(f"resumed {job_id}, submitted by try {store.get('first_try')}")
        return job_id

    @task
    def report(job_id: str) -> None:
        print(f"the job {job_id} is done")

    report(submit())


example_task_state_store()
