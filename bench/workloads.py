"""The benchmark DAG files: every task is a real no-op Python task (``@task`` returning None)."""

from __future__ import annotations

from pathlib import Path

HEADER = """from datetime import datetime

from tradewind import DAG, task


@task
def noop() -> None:
    return None

"""


def fan_out(folder: Path, *, width: int, dag_id: str = "w1_fan_out") -> str:
    """W1: ``start >> [width parallel tasks] >> end``."""
    (folder / f"{dag_id}.py").write_text(
        HEADER
        + f'''
with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks={width + 2}):
    start = noop.override(task_id="start")()
    end = noop.override(task_id="end")()
    for index in range({width}):
        start >> noop.override(task_id=f"t{{index:04d}}")() >> end
'''
    )
    return dag_id


def chain(folder: Path, *, length: int, dag_id: str = "w2_chain") -> str:
    """W2: ``t0 >> t1 >> ... >> t{length-1}``."""
    (folder / f"{dag_id}.py").write_text(
        HEADER
        + f'''
with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1)):
    previous = None
    for index in range({length}):
        current = noop.override(task_id=f"t{{index:02d}}")()
        if previous is not None:
            previous >> current
        previous = current
'''
    )
    return dag_id


def many_dags(folder: Path, *, count: int) -> list[str]:
    """W3: ``count`` files, each ``a >> b >> [8 parallel]``."""
    ids = []
    for number in range(count):
        dag_id = f"w3_dag_{number:03d}"
        (folder / f"{dag_id}.py").write_text(
            HEADER
            + f'''
with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1)):
    a = noop.override(task_id="a")()
    b = noop.override(task_id="b")()
    a >> b >> [noop.override(task_id=f"p{{i}}")() for i in range(8)]
'''
        )
        ids.append(dag_id)
    return ids


def mapped(folder: Path, *, width: int, dag_id: str = "w6_mapped") -> str:
    """W6: ``start >> noop.expand(over=make()) >> end`` with ``width`` map indexes."""
    (folder / f"{dag_id}.py").write_text(
        HEADER
        + f'''

@task
def make() -> list[int]:
    return list(range({width}))


@task
def item(number: int) -> None:
    return None


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks={width + 2}):
    item.expand(number=make()) >> noop.override(task_id="end")()
'''
    )
    return dag_id


def deferred(folder: Path, *, width: int, seconds: float, dag_id: str = "w7_deferred") -> str:
    """W7: ``width`` map indexes of an operator that defers on a ``seconds`` timer."""
    (folder / f"{dag_id}.py").write_text(
        f'''from datetime import datetime, timedelta, timezone

from tradewind import DAG, BaseOperator, TimeDeltaTrigger


class Timer(BaseOperator):
    def __init__(self, n: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds={seconds})), method_name="resume")

    def resume(self, context, event=None):
        now = datetime.now(timezone.utc).isoformat()
        return {{"due": event.isoformat(), "resumed": now}}


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks={width}):
    Timer.partial(task_id="wait").expand(n=list(range({width})))
'''
    )
    return dag_id
