"""A custom operator's template methods (Airflow's ``render_template``), with template files."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from tradewind import DAG, BaseOperator
from tradewind.sdk.context import build_context
from tradewind.sdk.execution import execute_task
from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.runtime import use_runtime


class QueryOperator(BaseOperator):
    """Renders its own SQL file and an extra string with ``render_template``."""

    template_fields = ("sql",)
    template_ext = (".sql",)

    def __init__(self, *, sql: str, note: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.note = note

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        note = self.render_template(self.note, context)
        listed = self.render_template(["{{ ds }}", {"id": "{{ ti.task_id }}"}], context)
        return {"sql": self.sql.strip(), "note": note, "listed": listed}


def test_custom_operators_render_template_files_and_their_own_values(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "daily.sql").write_text("SELECT * FROM t WHERE day = '{{ ds }}'\n")
    with DAG(
        "templates",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        template_searchpath=str(tmp_path / "queries"),
    ):
        op = QueryOperator(task_id="query", sql="daily.sql", note="run {{ run_id }}")
    context = build_context(task=op, run_id="r1", logical_date=datetime(2024, 3, 15))
    with use_runtime(InMemoryStore().runtime_for("query")):
        result = execute_task(op, context)
    assert result.xcoms["return_value"] == {
        "sql": "SELECT * FROM t WHERE day = '2024-03-15'",
        "note": "run r1",
        "listed": ["2024-03-15", {"id": "query"}],
    }
    assert op.get_template_env() is not None
    assert op.sql == "daily.sql"  # the task in the DAG is left unrendered
