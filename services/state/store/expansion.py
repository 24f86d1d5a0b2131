"""Mapped tasks' instances: expanding them, and folding them back when a person clears them.

A mapped task starts as one unexpanded instance (map index -1). Expanding it to ``n`` map
indexes makes that instance map index 0 and adds 1 .. n-1, in the transaction of the
scheduler's decision. Clearing a whole mapped task folds it back into one unexpanded instance,
so that it expands again over what its upstream tasks push next; the other instances are kept
as removed (their tries and logs stay), and an expansion brings back those it needs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from core.proto_enums import TASK_INSTANCE_STATES
from core.states import LEASED, WAITING, TaskInstanceState
from protos.enums.v1 import event_pb2
from services.state.db.event_log import record_event
from services.state.db.models import DagRun, TaskInstance
from services.state.store.transitions import change_ti_state, version_of

_TI = TaskInstanceState


def expand_mapped_task(
    session: Session, run: DagRun, unexpanded: TaskInstance, length: int, now: datetime
) -> None:
    """Turn a mapped task's unexpanded instance into map indexes 0 .. ``length`` - 1."""
    task = version_of(session, run.dag_content_hash).tasks.get(unexpanded.task_id)
    retries = task.retries if task is not None else unexpanded.max_tries - 1
    earlier = {
        ti.map_index: ti
        for ti in session.scalars(
            select(TaskInstance)
            .where(
                TaskInstance.dag_run_id == run.id,
                TaskInstance.task_id == unexpanded.task_id,
                TaskInstance.map_index >= 0,
            )
            .with_for_update()
        )
    }
    for index, ti in sorted(earlier.items()):
        if index >= length and ti.state in WAITING:
            change_ti_state(session, ti, _TI.REMOVED, now)
        elif index < length and ti.state not in LEASED and ti.state != _TI.NONE:
            _reset(ti, retries)
            change_ti_state(session, ti, _TI.NONE, now)
    unexpanded.map_index = 0 if 0 not in earlier else _free_index(earlier, length)
    fresh = [
        _copy_of(unexpanded, index, now)
        for index in range(length)
        if index not in earlier and index != unexpanded.map_index
    ]
    if fresh:
        session.execute(insert(TaskInstance), fresh)
    unexpanded.updated_at = now
    record_event(
        session,
        type=event_pb2.EVENT_TYPE_TASK_INSTANCE_STATE_CHANGED,
        time=now,
        dag_id=unexpanded.dag_id,
        run_id=unexpanded.run_id,
        task_id=unexpanded.task_id,
        map_index=unexpanded.map_index,
        try_number=unexpanded.try_number,
        task_instance_state=TASK_INSTANCE_STATES.to_proto(unexpanded.state),
        previous_task_instance_state=TASK_INSTANCE_STATES.to_proto(unexpanded.state),
        queue=unexpanded.queue,
        pool=unexpanded.pool,
    )


def _free_index(earlier: dict[int, TaskInstance], length: int) -> int:
    """A map index for the unexpanded row when index 0 is taken by a kept instance."""
    missing = [index for index in range(length) if index not in earlier]
    return missing[0] if missing else max(earlier) + 1


def _copy_of(ti: TaskInstance, map_index: int, now: datetime) -> dict[str, object]:
    return {
        "dag_run_id": ti.dag_run_id,
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": map_index,
        "state": _TI.NONE,
        "try_number": 0,
        "max_tries": ti.max_tries,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "queue": ti.queue,
        "priority_weight": ti.priority_weight,
        "operator": ti.operator,
        "updated_at": now,
    }


def _reset(ti: TaskInstance, retries: int) -> None:
    ti.max_tries = ti.try_number + retries + 1
    ti.next_retry_at = None
    ti.end_date = None
    ti.output_length = None
    ti.rendered_map_index = ""
    ti.error_type = ti.error_message = ti.error_traceback = ""


def fold_mapped_tasks(
    session: Session, run: DagRun, cleared: Sequence[TaskInstance], now: datetime
) -> list[TaskInstance]:
    """Fold every mapped task cleared whole back into one unexpanded instance.

    ``cleared`` are the task instances a clear resets. For each mapped task all of whose
    instances are among them, the one with the lowest map index becomes the unexpanded
    instance and is returned in their place for the clear to reset; its other instances are
    removed once their tries have stopped (running ones are left for the clear to stop).
    Instances of tasks cleared only in part are returned unchanged.
    """
    tasks = version_of(session, run.dag_content_hash).tasks
    by_task: dict[str, list[TaskInstance]] = {}
    for ti in cleared:
        by_task.setdefault(ti.task_id, []).append(ti)
    kept: list[TaskInstance] = []
    for task_id, instances in by_task.items():
        task = tasks.get(task_id)
        mapped = [ti for ti in instances if ti.map_index >= 0]
        if task is None or not task.HasField("map_length") or not mapped:
            kept += instances
            continue
        live = session.scalar(
            select(func.count())
            .select_from(TaskInstance)
            .where(
                TaskInstance.dag_run_id == run.id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index >= 0,
                TaskInstance.state != _TI.REMOVED,
            )
        )
        if int(live or 0) > len([ti for ti in mapped if ti.state != _TI.REMOVED]):
            kept += instances  # only part of the task is cleared: it stays expanded
            continue
        mapped.sort(key=lambda ti: ti.map_index)
        first, rest = mapped[0], mapped[1:]
        first.map_index = -1
        session.flush()
        kept.append(first)
        for ti in rest:
            if ti.state in LEASED:
                kept.append(ti)
            elif ti.state != _TI.REMOVED:
                _reset(ti, 0)
                change_ti_state(session, ti, _TI.REMOVED, now)
    return kept
