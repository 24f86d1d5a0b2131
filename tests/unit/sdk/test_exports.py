"""The public names of ``tradewind`` are pinned: adding or removing one is a deliberate act."""

from __future__ import annotations

import tradewind
from tradewind import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    SensorTimeout,
    TaskFailedNoRetry,
    TaskRescheduled,
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
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "AirflowTaskTimeout",
    "Asset",
    "AssetAlias",
    "AssetAll",
    "AssetAny",
    "AssetOrTimeSchedule",
    "AssetWatcher",
    "BaseBranchOperator",
    "BaseEventTrigger",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "BashOperator",
    "BashSensor",
    "BranchDateTimeOperator",
    "BranchDayOfWeekOperator",
    "BranchPythonOperator",
    "Connection",
    "ConnectionNotFound",
    "Context",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DagCycleError",
    "DagDefinitionError",
    "DagRunAlreadyExists",
    "DagRunInfo",
    "DagStateTrigger",
    "DataInterval",
    "Dataset",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DateTimeTrigger",
    "DayOfWeekSensor",
    "DeltaDataIntervalTimetable",
    "DeltaTriggerTimetable",
    "DirectoryFileDeleteTrigger",
    "DuplicateTaskIdError",
    "DuplicateTaskIdFound",
    "EdgeModifier",
    "EmptyOperator",
    "EventsTimetable",
    "ExternalPythonOperator",
    "ExternalTaskMarker",
    "ExternalTaskSensor",
    "FileDeleteTrigger",
    "FileSensor",
    "FileTrigger",
    "Label",
    "LatestOnlyOperator",
    "Metadata",
    "Model",
    "MultipleCronTriggerTimetable",
    "NotFound",
    "NullTimetable",
    "OnceTimetable",
    "Param",
    "ParamValidationError",
    "PokeReturnValue",
    "PythonOperator",
    "PythonSensor",
    "PythonVirtualenvOperator",
    "SensorTimeout",
    "ShortCircuitOperator",
    "TaskDeferralError",
    "TaskDeferralTimeout",
    "TaskDeferred",
    "TaskFailedNoRetry",
    "TaskGroup",
    "TaskInstanceState",
    "TaskRescheduled",
    "TaskSkipped",
    "TaskStateStore",
    "TaskTerminated",
    "TaskTimedOut",
    "TemplateRenderError",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeDeltaTrigger",
    "TimeRestriction",
    "TimeSensor",
    "TimeSensorAsync",
    "Timetable",
    "TradewindException",
    "TriggerDagRunOperator",
    "TriggerEvent",
    "TriggerRule",
    "Variable",
    "VariableNotFound",
    "WaitSensor",
    "WeekDay",
    "WeightRule",
    "WorkflowTrigger",
    "XComArg",
    "XComNotFound",
    "__version__",
    "asset",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "poke_mode_only",
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
    assert AirflowRescheduleException is TaskRescheduled
    assert AirflowSensorTimeout is SensorTimeout


def test_version_is_kept() -> None:
    assert isinstance(tradewind.__version__, str)
    assert tradewind.__version__
