"""Dynamic task mapping: one task instance per item, for items known only when the run has them.

``make_numbers`` returns a list (500 numbers unless the run's conf says ``{"count": N}``);
``double`` is expanded over it, one instance per number, and ``total`` receives every
instance's result in map index order (the "reduce"). The instance for 7 fails on its first try
and is retried alone. A classic operator is mapped too, with ``partial`` for the arguments every
instance shares, ``add`` maps over the cross product of two literal lists, and the task group
``file_pipeline`` is mapped as a whole: each file goes through ``extract`` then ``measure`` on
its own, and ``summary`` adds up every file's size.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tradewind import BashOperator, dag, get_current_context, task, task_group


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example"],
    params={"count": 500},
    doc_md="Double every number a task makes, one mapped instance each, then add them up.",
)
def example_dynamic_task_mapping():
    @task
    def make_numbers(params: dict | None = None) -> list[int]:
        return list(range(int((params or {})["count"])))

    @task(retries=1, retry_delay=timedelta(seconds=0), map_index_template="{{ number }}")
    def double(number: int) -> int:
        context = get_current_context()
        context["number"] = f"number {number}"
        if number == 7 and context["ti"].try_number == 1:
            raise RuntimeError("7 fails on its first try")
        print(f"doubling {number}")
        return 2 * number

    @task
    def total(doubled: list[int]) -> int:
        values = list(doubled)
        if values != [2 * n for n in range(len(values))]:
            raise ValueError("the doubled numbers arrived out of order")
        print(f"{len(values)} numbers add up to {sum(values)}")
        return sum(values)

    total(double.expand(number=make_numbers()))

    @task
    def add(x: int, y: int) -> int:
        return x + y

    add.expand(x=[1, 2], y=[10, 20, 30])

    BashOperator.partial(task_id="greet", retries=0).expand(
        bash_command=["echo hello", "echo world"]
    )

    @task_group
    def file_pipeline(name: str):
        @task
        def extract(name: str) -> str:
            return f"contents of {name}"

        @task
        def measure(contents: str) -> int:
            return len(contents)

        return measure(extract(name))

    @task
    def summary(sizes: list[int]) -> int:
        print(f"{len(list(sizes))} files, {sum(sizes)} characters")
        return sum(sizes)

    summary(file_pipeline.expand(name=["a.csv", "bb.csv"]))


example_dynamic_task_mapping()
