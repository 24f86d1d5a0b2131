"""How protobuf enum values are stored: as their lower-case short names ("queued")."""

from __future__ import annotations

from protos.enums.v1 import dag_run_pb2, event_pb2, task_instance_pb2
from services.runtime.enums import EnumNames

TaskInstanceState = task_instance_pb2.TaskInstanceState
TryOutcome = task_instance_pb2.TryOutcome
DagRunState = dag_run_pb2.DagRunState
DagRunType = dag_run_pb2.DagRunType
EventType = event_pb2.EventType


TI_STATES = EnumNames(TaskInstanceState, "TASK_INSTANCE_STATE_")
RUN_STATES = EnumNames(DagRunState, "DAG_RUN_STATE_")
RUN_TYPES = EnumNames(DagRunType, "DAG_RUN_TYPE_")
OUTCOMES = EnumNames(TryOutcome, "TRY_OUTCOME_")

# Stored state names used in queries.
NONE = "none"
SCHEDULED = "scheduled"
QUEUED = "queued"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
UP_FOR_RETRY = "up_for_retry"
UPSTREAM_FAILED = "upstream_failed"
SKIPPED = "skipped"
DEFERRED = "deferred"
REMOVED = "removed"
RESTARTING = "restarting"

#: Task instance states in which a try holds an executor lease.
LEASED_STATES = frozenset({RUNNING, RESTARTING})
#: Task instance states that take pool slots and count against max_active_tasks.
ACTIVE_TI_STATES = frozenset({QUEUED, RUNNING, RESTARTING})
#: Task instance states that are final for the run.
FINISHED_TI_STATES = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED, REMOVED})

RUN_QUEUED = "queued"
RUN_RUNNING = "running"
RUN_SUCCESS = "success"
RUN_FAILED = "failed"
#: Run states in which a scheduler has decisions to make.
ACTIVE_RUN_STATES = frozenset({RUN_QUEUED, RUN_RUNNING})
