"""The public names of ``tradewind`` are pinned: adding or removing one is a deliberate act."""

from __future__ import annotations

import tradewind
from tradewind import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskFailedNoRetry,
    TaskSkipped,
    TradewindException,
)

EXPECTED = [
    "DAG",
    "NEVER_EXPIRE",
    "AirflowDagCycleException",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "AirflowTaskTimeout",
    "BaseBranchOperator",
    "BaseOperator",
    "BashOperator",
    "BranchDateTimeOperator",
    "BranchDayOfWeekOperator",
    "BranchPythonOperator",
    "Connection",
    "ConnectionNotFound",
    "Context",
    "DagCycleError",
    "DagDefinitionError",
    "DuplicateTaskIdError",
    "DuplicateTaskIdFound",
    "EdgeModifier",
    "EmptyOperator",
    "ExternalPythonOperator",
    "Label",
    "LatestOnlyOperator",
    "NotFound",
    "Param",
    "ParamValidationError",
    "PythonOperator",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
    "TaskFailedNoRetry",
    "TaskGroup",
    "TaskInstanceState",
    "TaskSkipped",
    "TaskStateStore",
    "TaskTerminated",
    "TaskTimedOut",
    "TemplateRenderError",
    "TradewindException",
    "TriggerRule",
    "Variable",
    "VariableNotFound",
    "WeekDay",
    "WeightRule",
    "XComArg",
    "XComNotFound",
    "__version__",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
    "timezone",
]


def test_exports_are_pinned() -> None:
    assert tradewind.__all__ == EXPECTED


def test_every_export_exists() -> None:
    for name in tradewind.__all__:
        assert hasattr(tradewind, name), name


def test_airflow_names_are_aliases() -> None:
    assert AirflowException is TradewindException
    assert AirflowSkipException is TaskSkipped
    assert AirflowFailException is TaskFailedNoRetry


def test_version_is_kept() -> None:
    assert isinstance(tradewind.__version__, str)
    assert tradewind.__version__
