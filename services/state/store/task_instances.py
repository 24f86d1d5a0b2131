"""Task instances through the public API: listing, tries, clearing and marking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.proto_enums import TASK_INSTANCE_STATES
from core.states import LEASED, RUN_ACTIVE, DagRunState, TaskInstanceState
from protos.api.v1 import request_response_pb2 as api_rr
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.protoconv import to_datetime
from services.state.convert import ti_to_proto, try_to_proto
from services.state.db.models import Dag, DagRun, TaskInstance, TaskInstanceTry
from services.state.graph import closure, downstream_map, upstream_map
from services.state.paging import keyset_page, page_request
from services.state.store.errors import NotFound
from services.state.store.runs import get_run
from services.state.store.transitions import (
    change_run_state,
    change_ti_state,
    clear_task_instance_rows,
    definition_of,
)


def get_ti(
    session: Session, key: run_pb2.TaskInstanceKey, *, for_update: bool = False
) -> TaskInstance:
    """One task instance by key, or NotFound naming what is missing."""
    query = select(TaskInstance).where(
        TaskInstance.dag_id == key.dag_id,
        TaskInstance.run_id == key.run_id,
        TaskInstance.task_id == key.task_id,
    )
    if for_update:
        query = query.with_for_update()
    ti = session.scalar(query)
    if ti is None:
        get_run(session, key.dag_id, key.run_id)
        raise NotFound("task_instance", f"{key.dag_id}/{key.run_id}/{key.task_id}")
    return ti


def list_task_instances(
    session: Session, request: api_rr.ListTaskInstancesRequest, states: Sequence[str]
) -> api_rr.ListTaskInstancesResponse:
    """A page of task instances, by run (oldest first) then task id."""
    page = page_request(
        "ListTaskInstances",
        request.page_size,
        request.page_token,
        {
            "dag_id": request.dag_id,
            "run_id": request.run_id,
            "task_ids": sorted(request.task_ids),
            "states": sorted(states),
            "pool": request.pool,
            "queue": request.queue,
        },
    )
    query = select(TaskInstance)
    if request.dag_id:
        if session.get(Dag, request.dag_id) is None:
            raise NotFound("dag", request.dag_id)
        query = query.where(TaskInstance.dag_id == request.dag_id)
    if request.run_id:
        if request.dag_id:
            get_run(session, request.dag_id, request.run_id)
        query = query.where(TaskInstance.run_id == request.run_id)
    if request.task_ids:
        query = query.where(TaskInstance.task_id.in_(list(request.task_ids)))
    if states:
        query = query.where(TaskInstance.state.in_(states))
    if request.pool:
        query = query.where(TaskInstance.pool == request.pool)
    if request.queue:
        query = query.where(TaskInstance.queue == request.queue)
    found = keyset_page(
        session, query, [(TaskInstance.dag_run_id, False), (TaskInstance.task_id, False)], page
    )
    return api_rr.ListTaskInstancesResponse(
        task_instances=[ti_to_proto(r) for r in found.items],
        next_page_token=found.next_page_token,
        total_size=found.total_size,
    )


def list_tries(
    session: Session, request: api_rr.ListTaskInstanceTriesRequest
) -> api_rr.ListTaskInstanceTriesResponse:
    """A page of try records, by task instance then try number."""
    page = page_request(
        "ListTaskInstanceTries",
        request.page_size,
        request.page_token,
        {"dag_id": request.dag_id, "run_id": request.run_id, "task_ids": sorted(request.task_ids)},
    )
    if not request.dag_id or session.get(Dag, request.dag_id) is None:
        raise NotFound("dag", request.dag_id)
    query = select(TaskInstanceTry).where(TaskInstanceTry.dag_id == request.dag_id)
    if request.run_id:
        get_run(session, request.dag_id, request.run_id)
        query = query.where(TaskInstanceTry.run_id == request.run_id)
    if request.task_ids:
        query = query.where(TaskInstanceTry.task_id.in_(list(request.task_ids)))
    found = keyset_page(
        session,
        query,
        [(TaskInstanceTry.task_instance_id, False), (TaskInstanceTry.try_number, False)],
        page,
    )
    return api_rr.ListTaskInstanceTriesResponse(
        tries=[try_to_proto(r) for r in found.items],
        next_page_token=found.next_page_token,
        total_size=found.total_size,
    )


def _selected_runs(session: Session, request: api_rr.ClearTaskInstancesRequest) -> list[DagRun]:
    if session.get(Dag, request.dag_id) is None:
        raise NotFound("dag", request.dag_id)
    if request.run_id:
        return [get_run(session, request.dag_id, request.run_id, for_update=True)]
    query = select(DagRun).where(DagRun.dag_id == request.dag_id)
    gte = to_datetime(request, "logical_date_gte")
    lt = to_datetime(request, "logical_date_lt")
    if gte is not None:
        query = query.where(DagRun.logical_date >= gte)
    if lt is not None:
        query = query.where(DagRun.logical_date < lt)
    return list(session.scalars(query.order_by(DagRun.logical_date).with_for_update()))


def _expand(
    session: Session, run: DagRun, task_ids: Sequence[str], upstream: bool, downstream: bool
) -> set[str] | None:
    """The task ids selected in one run, with their relatives; None means every task."""
    if not task_ids:
        return None
    definition = definition_of(session, run.dag_content_hash)
    selected = set(task_ids)
    if upstream:
        selected |= closure(task_ids, upstream_map(definition))
    if downstream:
        selected |= closure(task_ids, downstream_map(definition))
    return selected


def clear_task_instances(
    session: Session, request: api_rr.ClearTaskInstancesRequest, now: datetime
) -> list[run_pb2.TaskInstance]:
    """Clear the selected task instances; return them as they were before."""
    cleared: list[run_pb2.TaskInstance] = []
    for run in _selected_runs(session, request):
        selected = _expand(
            session, run, request.task_ids, request.include_upstream, request.include_downstream
        )
        query = select(TaskInstance).where(TaskInstance.dag_run_id == run.id)
        if selected is not None:
            query = query.where(TaskInstance.task_id.in_(selected))
        if request.only_failed:
            query = query.where(
                TaskInstance.state.in_(
                    [TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED]
                )
            )
        tis = list(session.scalars(query.order_by(TaskInstance.task_id).with_for_update()))
        if not tis:
            continue
        cleared.extend(ti_to_proto(ti) for ti in tis)
        if not request.dry_run:
            clear_task_instance_rows(session, run, tis, now)
    return cleared


def set_task_instance_state(
    session: Session, request: api_rr.SetTaskInstanceStateRequest, state: str, now: datetime
) -> list[run_pb2.TaskInstance]:
    """Mark a task instance (and its relatives) success, failed or skipped by hand."""
    key = request.key
    run = get_run(session, key.dag_id, key.run_id, for_update=True)
    get_ti(session, key)
    selected = _expand(
        session, run, [key.task_id], request.include_upstream, request.include_downstream
    )
    assert selected is not None
    tis = list(
        session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_run_id == run.id, TaskInstance.task_id.in_(selected))
            .order_by(TaskInstance.task_id)
            .with_for_update()
        )
    )
    changed = [ti for ti in tis if ti.state != state]
    if request.dry_run:
        result = []
        for ti in changed:
            view = ti_to_proto(ti)
            view.state = TASK_INSTANCE_STATES.to_proto(state)
            result.append(view)
        return result
    for ti in changed:
        if ti.state in LEASED:
            ti.stop_requested = True
        ti.end_date = now
        ti.next_retry_at = None
        change_ti_state(session, ti, state, now)
    if changed:
        if run.state not in RUN_ACTIVE:
            # The run's outcome may change with its task instances: let the scheduler decide again.
            change_run_state(session, run, DagRunState.RUNNING, now)
        run.generation += 1
    return [ti_to_proto(ti) for ti in changed]
