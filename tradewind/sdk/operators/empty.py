"""EmptyOperator: a task that does nothing, to group dependencies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradewind.sdk.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """A task that does nothing and succeeds."""

    ui_color = "#e8f7e4"

    def execute(self, context: Mapping[str, Any]) -> None:
        """Do nothing.

        Args:
            context: the task instance's context (unused).

        """
