"""Python callables run by another interpreter: a fresh virtualenv, and an existing Python.

The functions run in a subprocess, so they import what they need inside their body; their
arguments and return values travel between the interpreters with pickle.
"""

from __future__ import annotations

import sys
from datetime import datetime

from tradewind import DAG, ExternalPythonOperator, task


def callable_external_python(numbers: list[int]) -> str:
    """Runs in the interpreter given by ``python=``: imports go inside the function."""
    import platform

    print(f"Running on Python {platform.python_version()}")
    return f"sum={sum(numbers)}"


with DAG(
    "example_python_virtualenv",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example"],
):

    @task.virtualenv(task_id="virtualenv_python", system_site_packages=False, requirements=[])
    def callable_virtualenv(count: int) -> list[int]:
        """A temporary venv is built for each try; nothing of the worker's packages is seen."""
        import sys

        print(f"Running in the virtual environment {sys.prefix}")
        return [number * number for number in range(count)]

    @task
    def report(squares: list[int], summary: str) -> str:
        message = f"squares={squares} {summary}"
        print(message)
        return message

    squares = callable_virtualenv(4)
    external = ExternalPythonOperator(
        task_id="external_python",
        python=sys.executable,
        python_callable=callable_external_python,
        op_args=[squares],
        expect_airflow=False,
    )
    report(squares, external.output)
