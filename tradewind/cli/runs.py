"""``tradewind runs list DAG_ID`` and ``tradewind runs show DAG_ID RUN_ID``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.graph import dependency_order
from tradewind.cli.output import (
    Column,
    format_cell,
    format_log_line,
    print_json,
    print_records,
    render_fields,
    render_table,
)
from tradewind.cli.runner import EXIT_OK, Subcommands, add_command, add_noun
from tradewind.client import Client, DagRun, DagRunState, TaskInstance, TaskInstanceState

RUN_COLUMNS: list[Column[DagRun]] = [
    Column("run_id", lambda r: r.run_id),
    Column("state", lambda r: r.state),
    Column("type", lambda r: r.run_type),
    Column("logical_date", lambda r: r.logical_date),
    Column("partition", lambda r: r.partition_key),
    Column("start", lambda r: r.start_date),
    Column("end", lambda r: r.end_date),
    Column("duration", lambda r: r.duration),
]

#: The task instances of one run.
TASK_INSTANCE_COLUMNS: list[Column[TaskInstance]] = [
    Column("task_id", lambda ti: instance_name(ti)),
    Column("state", lambda ti: ti.state),
    Column("try", lambda ti: ti.try_number),
    Column("duration", lambda ti: ti.duration),
    Column("start", lambda ti: ti.start_date),
    Column("end", lambda ti: ti.end_date),
    Column("waiting_on", lambda ti: waiting_on(ti)),
]


def waiting_on(ti: TaskInstance) -> str:
    """What a deferred or rescheduled instance waits for: its trigger, or its next poke."""
    if ti.state == TaskInstanceState.DEFERRED:
        what = ti.trigger.classpath.rpartition(".")[2] if ti.trigger is not None else "trigger"
        where = f" on {ti.trigger.triggerer_id}" if ti.trigger and ti.trigger.triggerer_id else ""
        until = f" until {ti.trigger_timeout_at:%Y-%m-%d %H:%M:%S}" if ti.trigger_timeout_at else ""
        return f"{what}{where}{until}"
    if ti.state == TaskInstanceState.UP_FOR_RESCHEDULE and ti.next_retry_at is not None:
        return f"next poke {ti.next_retry_at:%Y-%m-%d %H:%M:%S}"
    return ""


def instance_name(ti: TaskInstance) -> str:
    """A task instance as listings show it: ``task`` or, mapped, ``task[7]`` / ``task[name]``."""
    if ti.map_index < 0:
        return ti.task_id
    return f"{ti.task_id}[{ti.rendered_map_index or ti.map_index}]"


def run_fields(run: DagRun) -> list[tuple[str, object]]:
    """The details of a run shown above its task table."""
    return [
        ("dag_id", run.dag_id),
        ("run_id", run.run_id),
        ("state", run.state),
        ("type", run.run_type),
        ("logical_date", run.logical_date),
        ("start", run.start_date),
        ("end", run.end_date),
        ("duration", run.duration),
        ("conf", run.conf),
        ("note", run.note or None),
        ("partition_key", run.partition_key or None),
        ("partition_date", run.partition_date),
    ]


async def show_run(client: Client, run: DagRun, output: str) -> list[TaskInstance]:
    """Print a run and its task instances (the table ``runs show`` and ``--wait`` end with).

    Args:
        client: an open client.
        run: the run.
        output: ``table`` or ``json`` (``{"dag_run": ..., "task_instances": [...]}``).

    """
    tis = await tasks_in_dependency_order(
        client, run.dag_id, [ti async for ti in client.task_instances(run.dag_id, run.run_id)]
    )
    if output == "json":
        print_json({"dag_run": run, "task_instances": tis})
        return tis
    rows = ([format_cell(c.value(ti)) for c in TASK_INSTANCE_COLUMNS] for ti in tis)
    print(render_fields(run_fields(run)))
    print()
    print(render_table([c.header for c in TASK_INSTANCE_COLUMNS], rows))
    return tis


async def tasks_in_dependency_order(
    client: Client, dag_id: str, tis: Sequence[TaskInstance]
) -> list[TaskInstance]:
    """Task instances with each after its upstream tasks (by the DAG's current version)."""
    dag = await client.get_dag(dag_id, include_tasks=True)
    upstream: dict[str, Sequence[str]] = {t.task_id: t.upstream_task_ids for t in dag.tasks or ()}
    for ti in tis:
        upstream.setdefault(ti.task_id, ())
    position = {task_id: i for i, task_id in enumerate(dependency_order(upstream))}
    return sorted(tis, key=lambda ti: (ti.run_id, position[ti.task_id], ti.map_index))


#: Log lines of the first failed task shown when a waited-for run fails.
FAILURE_LOG_LINES = 15


async def explain_failure(client: Client, run: DagRun, tis: Sequence[TaskInstance]) -> str:
    """Say on stderr which tasks failed, with the end of the first one's log.

    Returns:
        ``": task(s) a, b failed"`` for the one-line error, or "" when none failed itself.

    """
    failed = [ti.task_id for ti in tis if ti.state is TaskInstanceState.FAILED]
    if not failed:
        return ""
    first = failed[0]
    lines = [line async for line in client.task_logs(run.dag_id, run.run_id, first)]
    print(f"\nlast lines of the log of {first!r}:", file=sys.stderr)
    for line in lines[-FAILURE_LOG_LINES:]:
        print(f"  {format_log_line(line)}", file=sys.stderr)
    print(f"(all of it: tradewind tasks logs {run.dag_id} {run.run_id} {first})", file=sys.stderr)
    return f": task(s) {', '.join(failed)} failed"


async def list_runs(client: Client, args: argparse.Namespace) -> int:
    """Print the runs of a DAG, newest first."""
    runs = [run async for run in client.dag_runs(args.dag_id, states=args.state or ())]
    print_records(runs, RUN_COLUMNS, args.output)
    return EXIT_OK


async def show(client: Client, args: argparse.Namespace) -> int:
    """Print one run with its task instances."""
    await show_run(client, await client.get_dag_run(args.dag_id, args.run_id), args.output)
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind runs ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(subcommands, "runs", help="list and inspect DAG runs")
    parser = add_command(verbs, "list", list_runs, help="list the runs of a DAG", output=True)
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument(
        "--state",
        action="append",
        choices=[s.value for s in DagRunState],
        help="only runs in this state (repeat for several)",
    )
    parser = add_command(verbs, "show", show, help="show a run and its task instances", output=True)
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument("run_id", metavar="RUN_ID")
