"""TaskService, the other-DAGs half: counts for sensors, runs triggered by a task."""

from __future__ import annotations

from typing import Any

from grpc import aio

from protos.task.v1 import request_response_pb2 as rr
from services.runtime.protoconv import to_datetime
from services.state.clock import utcnow
from services.state.convert import run_to_proto
from services.state.servicers.caller import caller_lease
from services.state.servicers.cross_dag import state_count
from services.state.services import StateServices
from services.state.store import cross_dag, execution
from services.state.store.runs import run_counts
from services.state.validation import identifier, json_object, optional_identifier


class CrossDagMethods:
    """CountTaskStates and TriggerDagRunFromTask (mixed into TaskServicer)."""

    _services: StateServices

    async def CountTaskStates(
        self, request: rr.CountTaskStatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.CountTaskStatesResponse:
        """Count another DAG's runs or task instances in given states, for a running try."""
        lease = caller_lease(request.caller, context)
        query = state_count(request.query, "query")
        now = utcnow()

        def count(session: Any) -> int:
            execution.verify_caller(session, lease, now)
            return cross_dag.count_states(session, query)

        return rr.CountTaskStatesResponse(
            count=await self._services.read(count, name="count_task_states")
        )

    async def TriggerDagRunFromTask(
        self, request: rr.TriggerDagRunFromTaskRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.TriggerDagRunFromTaskResponse:
        """Trigger (or reset) a run of another DAG for a running try."""
        lease = caller_lease(request.caller, context)
        dag_id = identifier(request.dag_id, "dag_id")
        run_id = optional_identifier(request.run_id, "run_id")
        conf_json = json_object(request.conf_json, "conf_json")
        now = utcnow()
        logical_date = to_datetime(request, "logical_date") or now

        def write(session: Any) -> rr.TriggerDagRunFromTaskResponse:
            execution.verify_caller(session, lease, now)
            run, existed = cross_dag.trigger_or_reset_run(
                session,
                dag_id,
                run_id=run_id,
                logical_date=logical_date,
                conf_json=conf_json,
                reset_dag_run=request.reset_dag_run,
                note=f"triggered by {lease.key.describe()}",
                now=now,
            )
            return rr.TriggerDagRunFromTaskResponse(
                dag_run=run_to_proto(run, run_counts(session, run.id)), already_existed=existed
            )

        return await self._services.write(write, name="trigger_dag_run_from_task")
