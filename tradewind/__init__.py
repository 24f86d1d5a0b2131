"""Tradewind: Airflow-style Python DAGs, run by a suite of gRPC services.

DAG files import what they need from here; porting an Airflow DAG means rewriting its
import lines (``from tradewind import DAG, task, BashOperator``) and nothing else.
"""

from core.partitions import (
    AllowedKeyMapper,
    ChainMapper,
    DayWindow,
    FanOutMapper,
    FixedKeyMapper,
    HourWindow,
    IdentityMapper,
    MinimumCount,
    MonthWindow,
    PartitionMapper,
    ProductMapper,
    QuarterWindow,
    RollupMapper,
    SegmentWindow,
    StartOfDayMapper,
    StartOfHourMapper,
    StartOfMonthMapper,
    StartOfQuarterMapper,
    StartOfWeekMapper,
    StartOfYearMapper,
    WaitForAll,
    WeekWindow,
    Window,
    YearWindow,
)
from core.states import TaskInstanceState
from core.trigger_rules import TriggerRule
from tradewind.sdk import timezone
from tradewind.sdk.asset_decorators import asset
from tradewind.sdk.assets import (
    Asset,
    AssetAccessControl,
    AssetAlias,
    AssetAll,
    AssetAny,
    AssetWatcher,
    Dataset,
    Metadata,
    Model,
)
from tradewind.sdk.baseoperator import BaseOperator, WeightRule
from tradewind.sdk.connection import Connection
from tradewind.sdk.context import Context, get_current_context
from tradewind.sdk.dag import DAG
from tradewind.sdk.dag_decorator import dag
from tradewind.sdk.dependencies import chain, chain_linear, cross_downstream
from tradewind.sdk.edges import EdgeModifier, Label
from tradewind.sdk.exceptions import (
    AirflowDagCycleException,
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTerminated,
    AirflowTaskTimeout,
    ConnectionNotFound,
    DagCycleError,
    DagDefinitionError,
    DagRunAlreadyExists,
    DuplicateTaskIdError,
    DuplicateTaskIdFound,
    NotFound,
    SensorTimeout,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
    TaskFailedNoRetry,
    TaskRescheduled,
    TaskSkipped,
    TaskTerminated,
    TaskTimedOut,
    TemplateRenderError,
    TradewindException,
    VariableNotFound,
    XComNotFound,
)
from tradewind.sdk.operators.bash import BashOperator
from tradewind.sdk.operators.branch import BaseBranchOperator
from tradewind.sdk.operators.datetime import BranchDateTimeOperator
from tradewind.sdk.operators.empty import EmptyOperator
from tradewind.sdk.operators.latest_only import LatestOnlyOperator
from tradewind.sdk.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from tradewind.sdk.operators.python_virtualenv import (
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from tradewind.sdk.operators.trigger_dagrun import TriggerDagRunOperator
from tradewind.sdk.operators.weekday import BranchDayOfWeekOperator
from tradewind.sdk.params import Param, ParamValidationError
from tradewind.sdk.sensors.base import BaseSensorOperator, PokeReturnValue, poke_mode_only
from tradewind.sdk.sensors.bash import BashSensor
from tradewind.sdk.sensors.date_time import DateTimeSensor, DateTimeSensorAsync
from tradewind.sdk.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from tradewind.sdk.sensors.filesystem import FileSensor
from tradewind.sdk.sensors.python import PythonSensor
from tradewind.sdk.sensors.time import TimeSensor, TimeSensorAsync
from tradewind.sdk.sensors.time_delta import TimeDeltaSensor, TimeDeltaSensorAsync, WaitSensor
from tradewind.sdk.sensors.weekday import DayOfWeekSensor
from tradewind.sdk.setup_teardown import setup, teardown
from tradewind.sdk.task_state import NEVER_EXPIRE, TaskStateStore
from tradewind.sdk.taskflow import task
from tradewind.sdk.taskgroup import TaskGroup, task_group
from tradewind.sdk.timetables import (
    AssetOrTimeSchedule,
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronPartitionTimetable,
    CronTriggerTimetable,
    DagRunInfo,
    DataInterval,
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    EventsTimetable,
    MultipleCronTriggerTimetable,
    NullTimetable,
    OnceTimetable,
    PartitionedAssetTimetable,
    PartitionedAtRuntime,
    TimeRestriction,
    Timetable,
)
from tradewind.sdk.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent
from tradewind.sdk.triggers.external_task import DagStateTrigger, WorkflowTrigger
from tradewind.sdk.triggers.file import DirectoryFileDeleteTrigger, FileDeleteTrigger, FileTrigger
from tradewind.sdk.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger
from tradewind.sdk.variable import Variable
from tradewind.sdk.weekday import WeekDay
from tradewind.sdk.xcom_arg import XComArg
from tradewind_common.version import tradewind_version

__version__ = tradewind_version()

__all__ = [
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
    "AllowedKeyMapper",
    "Asset",
    "AssetAccessControl",
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
    "ChainMapper",
    "Connection",
    "ConnectionNotFound",
    "Context",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronPartitionTimetable",
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
    "DayWindow",
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
    "FanOutMapper",
    "FileDeleteTrigger",
    "FileSensor",
    "FileTrigger",
    "FixedKeyMapper",
    "HourWindow",
    "IdentityMapper",
    "Label",
    "LatestOnlyOperator",
    "Metadata",
    "MinimumCount",
    "Model",
    "MonthWindow",
    "MultipleCronTriggerTimetable",
    "NotFound",
    "NullTimetable",
    "OnceTimetable",
    "Param",
    "ParamValidationError",
    "PartitionMapper",
    "PartitionedAssetTimetable",
    "PartitionedAtRuntime",
    "PokeReturnValue",
    "ProductMapper",
    "PythonOperator",
    "PythonSensor",
    "PythonVirtualenvOperator",
    "QuarterWindow",
    "RollupMapper",
    "SegmentWindow",
    "SensorTimeout",
    "ShortCircuitOperator",
    "StartOfDayMapper",
    "StartOfHourMapper",
    "StartOfMonthMapper",
    "StartOfQuarterMapper",
    "StartOfWeekMapper",
    "StartOfYearMapper",
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
    "WaitForAll",
    "WaitSensor",
    "WeekDay",
    "WeekWindow",
    "WeightRule",
    "Window",
    "WorkflowTrigger",
    "XComArg",
    "XComNotFound",
    "YearWindow",
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
