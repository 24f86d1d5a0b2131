"""TriggererService: trigger leases, events and failures from triggerer replicas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grpc import aio

from protos.run.v1 import message_pb2 as run_pb2
from protos.triggerer.v1 import message_pb2 as triggerer_pb2
from protos.triggerer.v1 import request_response_pb2 as rr
from protos.triggerer.v1 import service_pb2_grpc
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import timestamp, to_seconds
from services.state.clock import utcnow
from services.state.metrics import LEASES
from services.state.servicers.cross_dag import state_count
from services.state.services import StateServices
from services.state.store import cross_dag, deferral
from services.state.validation import identifier, json_value, positive_seconds

#: The most triggers one triggerer may hold.
MAX_CAPACITY = 100_000


def leased_trigger_message(leased: deferral.LeasedTrigger) -> triggerer_pb2.LeasedTrigger:
    """The contract's message of a trigger just leased."""
    ti, trigger = leased.ti, leased.trigger
    return triggerer_pb2.LeasedTrigger(
        trigger_id=trigger.id,
        classpath=trigger.classpath,
        kwargs_json=trigger.kwargs_json,
        task_instance=run_pb2.TaskInstanceKey(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index >= 0 else None,
        ),
        try_number=trigger.try_number,
        created_at=timestamp(trigger.created_at),
        relative_fileloc=leased.relative_fileloc,
    )


def trigger_outcome(outcome: triggerer_pb2.TriggerOutcome, field: str) -> deferral.TriggerOutcome:
    """The store's view of a trigger's outcome, refusing a malformed one."""
    if outcome.trigger_id <= 0:
        raise InvalidArgument(f"{field}.trigger_id", "must be positive")
    kind = outcome.WhichOneof("result")
    if kind == "event_payload_json":
        json_value(outcome.event_payload_json, f"{field}.event_payload_json")
        return deferral.TriggerOutcome(
            trigger_id=outcome.trigger_id, event_payload_json=outcome.event_payload_json
        )
    if kind == "failure":
        return deferral.TriggerOutcome(
            trigger_id=outcome.trigger_id,
            failure_message=outcome.failure.message,
            failure_traceback=outcome.failure.traceback,
        )
    raise InvalidArgument(f"{field}", "needs event_payload_json or failure")


class TriggererServicer(service_pb2_grpc.TriggererServiceServicer):
    """What triggerer replicas call."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def SyncTriggers(
        self, request: rr.SyncTriggersRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.SyncTriggersResponse:
        """Renew the caller's trigger leases and lease free triggers up to its share."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        if not 0 < request.capacity <= MAX_CAPACITY:
            raise InvalidArgument("capacity", f"must be between 1 and {MAX_CAPACITY}")
        seconds = positive_seconds(to_seconds(request, "lease_duration"), "lease_duration")
        if any(i <= 0 for i in request.held_trigger_ids):
            raise InvalidArgument("held_trigger_ids", "must be positive")
        held = list(request.held_trigger_ids)
        now = utcnow()

        def sync(session: Any) -> rr.SyncTriggersResponse:
            result = deferral.sync_triggers(
                session, triggerer_id, held, request.capacity, timedelta(seconds=seconds), now
            )
            return rr.SyncTriggersResponse(
                leased=[leased_trigger_message(t) for t in result.leased],
                lost_trigger_ids=result.lost,
                lease_expires_at=timestamp(result.expires_at),
            )

        response = await self._services.write(sync, name="sync_triggers")
        LEASES.labels("trigger", "granted").inc(len(response.leased))
        LEASES.labels("trigger", "refused").inc(len(response.lost_trigger_ids))
        return response

    async def FireTriggers(
        self, request: rr.FireTriggersRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.FireTriggersResponse:
        """Resume the task instances of triggers that fired or failed."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        outcomes = [trigger_outcome(o, f"outcomes[{i}]") for i, o in enumerate(request.outcomes)]
        now = utcnow()
        resumed = await self._services.write(
            lambda s: deferral.fire_triggers(s, triggerer_id, outcomes, now), name="fire_triggers"
        )
        return rr.FireTriggersResponse(resumed_trigger_ids=resumed)

    async def ReleaseTriggers(
        self, request: rr.ReleaseTriggersRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReleaseTriggersResponse:
        """Give trigger leases back."""
        triggerer_id = identifier(request.triggerer_id, "triggerer_id")
        ids = list(request.trigger_ids)
        now = utcnow()
        released = await self._services.write(
            lambda s: deferral.release_triggers(s, triggerer_id, ids, now),
            name="release_triggers",
        )
        return rr.ReleaseTriggersResponse(released=released)

    async def CountStates(
        self, request: rr.CountStatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.CountStatesResponse:
        """Count another DAG's runs or task instances in given states."""
        query = state_count(request.query, "query")
        count = await self._services.read(
            lambda s: cross_dag.count_states(s, query), name="count_states"
        )
        return rr.CountStatesResponse(count=count)
