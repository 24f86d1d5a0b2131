"""``tradewind dags list|show|pause|unpause|trigger|delete``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from core.graph import dependency_order
from tradewind.cli.arguments import date_time, json_object, seconds
from tradewind.cli.local_runs import register_dags_test
from tradewind.cli.output import (
    Column,
    format_cell,
    print_json,
    print_record,
    print_records,
    render_fields,
    render_table,
)
from tradewind.cli.progress import RunProgress, follow_run
from tradewind.cli.runner import (
    EXIT_OK,
    CommandFailed,
    Subcommands,
    UsageError,
    add_command,
    add_noun,
    confirm,
)
from tradewind.cli.runs import explain_failure, run_fields, show_run
from tradewind.client import Client, Dag, DagRunState, Task

DAG_COLUMNS: list[Column[Dag]] = [
    Column("dag_id", lambda d: d.dag_id),
    Column("paused", lambda d: d.is_paused),
    Column("schedule", lambda d: d.schedule or "None"),
    Column("next_run", lambda d: d.next_dagrun_logical_date),
    Column("tasks", lambda d: d.task_count),
    Column("tags", lambda d: d.tags),
    Column("file", lambda d: d.relative_fileloc),
]


def _with_role(operator: str, task: Task) -> str:
    """The operator's name, with ``(setup)`` or ``(teardown)`` for those roles."""
    role = "setup" if task.is_setup else "teardown" if task.is_teardown else ""
    return f"{operator} ({role})" if role else operator


def _labelled_upstream(task: Task) -> tuple[str, ...]:
    """The upstream task ids, each labelled edge as ``id [label]``."""
    return tuple(
        f"{u} [{task.upstream_edge_labels[u]}]" if u in task.upstream_edge_labels else u
        for u in task.upstream_task_ids
    )


TASK_COLUMNS: list[Column[Task]] = [
    Column("task_id", lambda t: t.task_id),
    Column("operator", lambda t: _with_role(t.operator, t)),
    Column("upstream", lambda t: _labelled_upstream(t)),
    Column("trigger_rule", lambda t: t.trigger_rule),
    Column("retries", lambda t: t.retries),
    Column("pool", lambda t: t.pool),
]


async def list_dags(client: Client, args: argparse.Namespace) -> int:
    """Print the DAGs (a table marks those with DAG warnings)."""
    dags = [
        dag
        async for dag in client.dags(tags=args.tag or (), include_inactive=args.include_inactive)
    ]
    if args.output == "json":
        print_records(dags, DAG_COLUMNS, args.output)
        return EXIT_OK
    warned = Counter([w.dag_id async for w in client.dag_warnings()])
    columns = [*DAG_COLUMNS, Column("warnings", lambda d: warned.get(d.dag_id) or None)]
    print_records(dags, columns, args.output)
    if warned:
        print(
            f"{sum(warned.values())} DAG warning(s): tradewind dag-warnings list", file=sys.stderr
        )
    return EXIT_OK


async def show(client: Client, args: argparse.Namespace) -> int:
    """Print one DAG with its tasks."""
    dag = await client.get_dag(args.dag_id, include_tasks=True)
    if args.output == "json":
        print_json(dag)
        return EXIT_OK
    print(
        render_fields(
            [
                ("dag_id", dag.dag_id),
                ("description", dag.description or None),
                ("paused", dag.is_paused),
                ("active", dag.is_active),
                ("schedule", dag.schedule or "None"),
                ("timezone", dag.timezone),
                ("team", dag.team or None),
                ("next_run", dag.next_dagrun_logical_date),
                ("max_active_runs", dag.max_active_runs),
                ("max_active_tasks", dag.max_active_tasks),
                ("owners", dag.owners),
                ("tags", dag.tags),
                ("file", dag.fileloc),
                ("last_parsed", dag.last_parsed_at),
            ]
        )
    )
    if dag.doc_md:
        print()
        print(dag.doc_md.strip())
    for warning in [w async for w in client.dag_warnings(dag.dag_id)]:
        print()
        print(f"warning ({warning.warning_type}): {warning.message}")
    print()
    tasks = {t.task_id: t for t in dag.tasks or ()}
    ordered = dependency_order({t.task_id: t.upstream_task_ids for t in tasks.values()})
    rows = ([format_cell(c.value(tasks[t])) for c in TASK_COLUMNS] for t in ordered)
    print(render_table([c.header for c in TASK_COLUMNS], rows))
    return EXIT_OK


async def pause(client: Client, args: argparse.Namespace) -> int:
    """Pause a DAG."""
    dag = await client.pause_dag(args.dag_id)
    print(f"DAG {dag.dag_id!r} is paused")
    return EXIT_OK


async def unpause(client: Client, args: argparse.Namespace) -> int:
    """Unpause a DAG."""
    dag = await client.unpause_dag(args.dag_id)
    print(f"DAG {dag.dag_id!r} is unpaused")
    return EXIT_OK


async def trigger(client: Client, args: argparse.Namespace) -> int:
    """Trigger a run; with --wait, follow it to its end and exit 1 when it failed."""
    dag = await client.get_dag(args.dag_id)
    run = await client.trigger(
        args.dag_id,
        conf=args.conf,
        run_id=args.run_id,
        logical_date=args.logical_date,
        partition_key=args.partition_key,
    )
    if dag.is_paused:
        print(
            f"warning: DAG {dag.dag_id!r} is paused: the run stays queued until it is"
            f" unpaused (tradewind dags unpause {dag.dag_id})",
            file=sys.stderr,
        )
    if not args.wait:
        print_record(run, run_fields(run), args.output)
        return EXIT_OK
    print(f"triggered run {run.run_id!r} of DAG {run.dag_id!r}; waiting", file=sys.stderr)
    run = await follow_run(
        client, run, RunProgress(sys.stderr), timeout=args.timeout, paused=dag.is_paused
    )
    tis = await show_run(client, run, args.output)
    if run.state is not DagRunState.SUCCESS:
        failed = await explain_failure(client, run, tis)
        raise CommandFailed(f"run {run.run_id!r} of DAG {run.dag_id!r} {run.state}{failed}")
    return EXIT_OK


def check_trigger(args: argparse.Namespace) -> None:
    """Refuse --timeout without --wait."""
    if args.timeout is not None and not args.wait:
        raise UsageError("argument --timeout: only makes sense with --wait")


async def delete(client: Client, args: argparse.Namespace) -> int:
    """Delete a DAG and its history, after a confirmation."""
    await client.get_dag(args.dag_id)  # say "not found" before asking anything
    confirm(
        f"Delete DAG {args.dag_id!r} with all its runs, task instances, XCom and logs?",
        assume_yes=args.yes,
    )
    runs = await client.delete_dag(args.dag_id)
    print(f"deleted DAG {args.dag_id!r} and {runs} run(s)")
    return EXIT_OK


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind dags ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(subcommands, "dags", help="list, inspect, pause, trigger and delete DAGs")

    parser = add_command(verbs, "list", list_dags, help="list the DAGs", output=True)
    parser.add_argument("--tag", action="append", help="only DAGs with this tag (repeatable)")
    parser.add_argument(
        "--include-inactive", action="store_true", help="also DAGs whose file is gone"
    )

    parser = add_command(verbs, "show", show, help="show a DAG and its tasks", output=True)
    parser.add_argument("dag_id", metavar="DAG_ID")

    for name, command, what in (
        ("pause", pause, "pause a DAG: no new runs, nothing of it queued"),
        ("unpause", unpause, "unpause a DAG"),
    ):
        add_command(verbs, name, command, help=what).add_argument("dag_id", metavar="DAG_ID")

    parser = add_command(
        verbs,
        "trigger",
        trigger,
        help="trigger a run of a DAG",
        output=True,
        check=check_trigger,
    )
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument("-c", "--conf", type=json_object, help="the run's conf, a JSON object")
    parser.add_argument("-r", "--run-id", default="", help="the run's id (default: manual__<date>)")
    parser.add_argument(
        "-p", "--partition-key", default="", help="the partition the run is for (its key)"
    )
    parser.add_argument(
        "-l",
        "--logical-date",
        type=date_time,
        help="the run's logical date, ISO 8601 (default: now; UTC unless an offset is given)",
    )
    parser.add_argument(
        "-w", "--wait", action="store_true", help="wait for the run to end, showing progress"
    )
    parser.add_argument(
        "--timeout", type=seconds, help="with --wait: give up after this many seconds"
    )

    register_dags_test(verbs)
    parser = add_command(verbs, "delete", delete, help="delete a DAG and all its history")
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
