"""Mapped tasks in the state store: output lengths, expansion, folding on clear, lookups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from core.states import TryOutcome
from protos.dag.v1 import message_pb2 as dag_pb2
from services.state.db import models
from services.state.db.engine import Database
from services.state.store import execution, task_instances
from services.state.store.admission import Refusal
from services.state.store.apply import TaskInstanceTransition
from services.state.store.errors import NotFound
from services.state.store.execution import Completion, TryLease
from services.state.store.transitions import TryEnding
from tests.helpers.store import Run, State, register, triggered
from tests.integration.state.test_store_execution import lease

OVER_MAKE = dag_pb2.MapLength(upstream_task_id="make")
TASKS = {"make": [], "add": ["make"], "total": ["add"]}


def mapped_run(database: Database) -> Run:
    register(database, "d", TASKS, map_lengths={"add": OVER_MAKE})
    run = triggered(database, "d")
    outcomes, _ = run.apply(run.tis("make", to=State.QUEUED), [run.start()])
    assert all(o.applied for o in outcomes)
    return run


def finish(
    database: Database, try_lease: TryLease, xcoms: list[tuple[str, str]], *, max_length: int = 1024
) -> models.TaskInstance:
    now = datetime.now(UTC)
    completion = Completion(
        executor_id="executor-1",
        lease=try_lease,
        ending=TryEnding(outcome=TryOutcome.SUCCESS, end_date=now),
        process_started_at=now,
        skip_task_ids=(),
        xcoms=xcoms,
    )
    return database.run_write(
        lambda s: execution.complete_task_instance(s, completion, now, max_map_length=max_length)
    )


def expand(run: Run, length: int, *, max_length: int = 1024) -> Any:
    item = TaskInstanceTransition(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id="add",
        expected_state=State.NONE,
        expected_try_number=0,
        new_state=State.NONE,
        expected_run_generation=run.generation,
        expand_to=length,
    )
    from services.state.store import apply

    (outcome,), _ = run.database.run_write(
        lambda s: apply.apply_transitions(
            s, "scheduler-1", [item], [], datetime.now(UTC), max_map_length=max_length
        )
    )
    return outcome


def instances(database: Database, task_id: str = "add") -> list[tuple[int, str]]:
    return database.run_write(
        lambda s: [
            (index, state)
            for index, state in s.execute(
                select(models.TaskInstance.map_index, models.TaskInstance.state)
                .where(models.TaskInstance.task_id == task_id)
                .order_by(models.TaskInstance.map_index)
            )
        ]
    )


def test_a_list_mapped_over_is_measured_and_the_task_expands_in_one_transaction(
    database: Database,
) -> None:
    run = mapped_run(database)
    (made,) = lease(database)
    ti = finish(database, made, [("return_value", "[1, 2, 3]")])
    assert (ti.state, ti.output_length) == (State.SUCCESS, 3)
    assert expand(run, 3).applied
    assert instances(database) == [(0, "none"), (1, "none"), (2, "none")]
    again = expand(run, 3)  # no unexpanded instance is left
    assert again.refusal is Refusal.NOT_FOUND


@pytest.mark.parametrize(
    ("xcoms", "error_type", "message"),
    [
        ([("return_value", '"abc"')], "UnmappableXComTypePushed", "unmappable return type 'str'"),
        ([("return_value", "[1, 2, 3]")], "UnmappableXComLengthPushed", "length: 3 > 2"),
        ([], "XComForMappingNotPushed", "did not push a return value"),
    ],
)
def test_a_value_that_cannot_be_mapped_over_fails_the_try_that_pushed_it(
    database: Database, xcoms: list[tuple[str, str]], error_type: str, message: str
) -> None:
    mapped_run(database)
    (made,) = lease(database)
    ti = finish(database, made, xcoms, max_length=2)
    assert ti.state == State.FAILED
    assert ti.error_type == error_type
    assert message in ti.error_message
    assert ti.output_length is None


def test_an_expansion_beyond_max_map_length_is_refused(database: Database) -> None:
    run = mapped_run(database)
    assert expand(run, 5, max_length=4).refusal is Refusal.ILLEGAL_TRANSITION
    assert instances(database) == [(-1, "none")]


def test_a_mapped_instance_is_named_by_its_map_index(database: Database) -> None:
    run = mapped_run(database)
    expand(run, 2)
    key = task_instances.TaskInstanceKey("d", "r1", "add", 1)
    found = database.run_write(lambda s: task_instances.get_ti(s, key).map_index)
    assert found == 1
    with pytest.raises(NotFound, match=r"d/r1/add \(task 'add' is mapped: name a map index from"):
        database.run_write(
            lambda s: task_instances.get_ti(s, task_instances.TaskInstanceKey("d", "r1", "add"))
        )
    with pytest.raises(NotFound, match=r"d/r1/add\[5\]"):
        database.run_write(
            lambda s: task_instances.get_ti(s, task_instances.TaskInstanceKey("d", "r1", "add", 5))
        )


def clear(database: Database, *task_ids: str, map_indexes: tuple[int, ...] = ()) -> None:
    selection = task_instances.Selection(
        dag_id="d", run_id="r1", task_ids=task_ids, map_indexes=map_indexes
    )

    def write(session: Any) -> None:
        task_instances.clear(
            session, task_instances.selected(session, selection), datetime.now(UTC)
        )

    database.run_write(write)


def test_clearing_one_map_index_keeps_the_expansion(database: Database) -> None:
    run = mapped_run(database)
    expand(run, 3)
    database.run_write(lambda s: _set_states(s, "success"))
    clear(database, "add", map_indexes=(1,))
    assert instances(database) == [(0, "success"), (1, "none"), (2, "success")]


def test_clearing_a_whole_mapped_task_folds_it_to_expand_again(database: Database) -> None:
    run = mapped_run(database)
    expand(run, 3)
    database.run_write(lambda s: _set_states(s, "success"))
    clear(database, "add")
    assert instances(database) == [(-1, "none"), (1, "removed"), (2, "removed")]
    fresh = Run(database, "d", "r1", generation=run.generation + 1)
    assert fresh.apply((), [fresh.start()])[1][0].applied  # a clear queues the run again
    assert expand(fresh, 2).applied  # upstream now pushes a shorter list
    assert instances(database) == [(0, "none"), (1, "none"), (2, "removed")]


def _set_states(session: Any, state: str) -> None:
    for ti in session.scalars(
        select(models.TaskInstance).where(models.TaskInstance.task_id == "add")
    ):
        ti.state = state


def test_leases_and_xcoms_of_mapped_instances_carry_their_map_index(database: Database) -> None:
    run = mapped_run(database)
    (made,) = lease(database)
    finish(database, made, [("return_value", '["a", "b"]')])
    expand(run, 2)
    run.apply(
        [
            TaskInstanceTransition(
                dag_id="d",
                run_id="r1",
                task_id="add",
                map_index=index,
                expected_state=State.NONE,
                expected_try_number=0,
                new_state=State.QUEUED,
                expected_run_generation=run.generation,
            )
            for index in (0, 1)
        ]
    )
    leases = sorted(lease(database), key=lambda granted: granted.map_index)
    assert [(granted.task_id, granted.map_index) for granted in leases] == [("add", 0), ("add", 1)]
    for granted in leases:
        finish(database, granted, [("return_value", str(granted.map_index * 10))])

    run.apply(run.tis("total", to=State.QUEUED))
    (reducer,) = lease(database)

    def read(session: Any, map_index: int | None = None) -> list[tuple[int, str]]:
        rows = execution.get_xcoms(
            session, reducer, ["add"], "return_value", datetime.now(UTC), map_index=map_index
        )
        return [(row.map_index, row.value_json) for row in rows]

    assert database.run_write(read) == [(0, "0"), (1, "10")]
    assert database.run_write(lambda s: read(s, 1)) == [(1, "10")]
