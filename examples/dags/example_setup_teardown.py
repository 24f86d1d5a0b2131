"""Setup and teardown: a scratch folder is made before the work and removed after it, always.

The work fails when the run's conf says ``{"fail": true}``: the teardown still removes the
folder, and the run fails because its work failed (a teardown does not decide the run).
"""

from __future__ import annotations

from datetime import datetime

from tradewind import dag, setup, task, teardown


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example"],
    params={"fail": False},
    doc_md="Make a scratch folder, write a report into it, remove the folder whatever happens.",
)
def example_setup_teardown():
    @setup
    def create_scratch() -> str:
        import tempfile

        folder = tempfile.mkdtemp(prefix="example-scratch-")
        print(f"created {folder}")
        return folder

    @task
    def write_report(folder: str, params: dict | None = None) -> int:
        if (params or {}).get("fail"):
            raise RuntimeError("the report could not be written")
        with open(f"{folder}/report.txt", "w") as report:
            return report.write("3 orders\n")

    @teardown
    def remove_scratch(folder: str) -> None:
        import shutil

        shutil.rmtree(folder)
        print(f"removed {folder}")

    scratch = create_scratch()
    with remove_scratch(scratch).as_teardown(setups=scratch):
        write_report(scratch)


example_setup_teardown()
