"""The length of a return value that a mapped task maps over, recorded with the success."""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy.orm import Session

from core.mapping import UnmappableValue, output_length
from core.states import TryOutcome
from services.state.db.models import DagRun, TaskInstance, XCom
from services.state.store.transitions import TryEnding, version_of

RETURN_KEY = "return_value"


def record_output_length(
    session: Session, ti: TaskInstance, ending: TryEnding, max_map_length: int
) -> TryEnding:
    """Record how many items a successful try gives the mapped tasks mapping over it.

    An instance of a mapped task gives one item when it returned a value, none otherwise. A
    task that is not mapped gives its return value's length; when it returned nothing, or a
    value that is not a list or dict, or one longer than ``max_map_length``, the try fails
    instead, with Airflow's message.

    Returns:
        How the try ends: ``ending``, or a failure.

    """
    run = session.get(DagRun, ti.dag_run_id)
    if run is None or ti.task_id not in version_of(session, run.dag_content_hash).mapped_over:
        return ending
    pushed = session.get(XCom, (ti.id, RETURN_KEY))
    try:
        ti.output_length = output_length(
            json.loads(pushed.value_json) if pushed is not None and ti.map_index < 0 else None,
            pushed=pushed is not None,
            mapped_instance=ti.map_index >= 0,
            max_length=max_map_length,
        )
    except UnmappableValue as error:
        return _failed(ending, error.airflow_name, str(error))
    return ending


def _failed(ending: TryEnding, error_type: str, message: str) -> TryEnding:
    return dataclasses.replace(
        ending, outcome=TryOutcome.FAILED, error_type=error_type, error_message=message
    )
