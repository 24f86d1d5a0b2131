"""``tradewind tasks logs|clear|mark``."""

from __future__ import annotations

import argparse
import json
import sys

from tradewind.cli.arguments import non_negative_int, positive_int
from tradewind.cli.local_runs import register_tasks_test
from tradewind.cli.output import Column, format_log_line, print_records
from tradewind.cli.runner import EXIT_OK, Subcommands, add_command, add_noun, confirm
from tradewind.cli.runs import TASK_INSTANCE_COLUMNS
from tradewind.client import Client, TaskInstance, TaskInstanceState, TaskStateEntry

#: Task instances of possibly several runs.
CHANGED_COLUMNS: list[Column[TaskInstance]] = [
    Column("run_id", lambda ti: ti.run_id),
    *TASK_INSTANCE_COLUMNS,
]

#: The states a person may mark a task instance with.
MARKABLE_STATES = (TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED)


async def logs(client: Client, args: argparse.Namespace) -> int:
    """Print a try's log; with --follow, keep printing until the try ends."""
    key = (args.dag_id, args.run_id, args.task_id)
    read = client.follow_logs if args.follow else client.task_logs
    lines = read(*key, try_number=args.try_number, map_index=args.map_index)
    printed = 0
    async for line in lines:
        print(format_log_line(line), flush=args.follow)
        printed += 1
    if not printed and not args.follow:
        ti = await client.get_task_instance(*key, map_index=args.map_index)
        print(f"({no_log_reason(ti)})", file=sys.stderr)
        if ti.try_number == 0:
            for warning in [w async for w in client.dag_warnings(args.dag_id)]:
                print(f"(DAG warning: {warning.message})", file=sys.stderr)
    return EXIT_OK


#: Why a task instance without a try has no log, by its state.
_NO_TRY = {
    TaskInstanceState.NONE: "it waits for its upstream tasks",
    TaskInstanceState.SCHEDULED: (
        "its upstream tasks are done; it waits for a slot in its pool or under the DAG's"
        " max_active_tasks (see tradewind dag-warnings list)"
    ),
    TaskInstanceState.QUEUED: "it waits for an executor to take it",
    TaskInstanceState.UPSTREAM_FAILED: "it will not run: an upstream task failed",
    TaskInstanceState.SKIPPED: "it was skipped, so it did not run",
    TaskInstanceState.REMOVED: "its task is no longer in the DAG",
}


def no_log_reason(ti: TaskInstance) -> str:
    """Why a task instance has no log lines to show."""
    if ti.try_number == 0:
        why = _NO_TRY.get(ti.state, "it has not run")
        return f"no try yet: the task instance is {ti.state}; {why}"
    return f"no log lines yet for try {ti.try_number} ({ti.state})"


async def clear(client: Client, args: argparse.Namespace) -> int:
    """Show what would be cleared, ask, then clear it."""

    async def clear_selected(*, dry_run: bool) -> list[TaskInstance]:
        return await client.clear_task_instances(
            args.dag_id,
            run_id=args.run_id,
            task_ids=args.task_id or (),
            upstream=args.upstream,
            downstream=args.downstream,
            only_failed=args.only_failed,
            dry_run=dry_run,
            map_indexes=args.map_index or (),
            include_dependent_dags=args.include_dependent_dags,
        )

    planned = await clear_selected(dry_run=True)
    if not planned or args.dry_run:
        print_records(planned, CHANGED_COLUMNS, args.output)
        return EXIT_OK
    if args.output == "table":  # show what the question is about; JSON prints one document
        print_records(planned, CHANGED_COLUMNS, args.output)
    confirm(f"Clear these {len(planned)} task instance(s)?", assume_yes=args.yes)
    cleared = await clear_selected(dry_run=False)
    if args.output == "json":
        print_records(cleared, CHANGED_COLUMNS, args.output)
    else:
        print(f"cleared {len(cleared)} task instance(s)")
    return EXIT_OK


async def mark(client: Client, args: argparse.Namespace) -> int:
    """Mark a task instance (and its relatives) by hand."""
    changed = await client.set_task_instance_state(
        args.dag_id,
        args.run_id,
        args.task_id,
        args.state,
        upstream=args.upstream,
        downstream=args.downstream,
        dry_run=args.dry_run,
        map_index=args.map_index,
    )
    print_records(changed, CHANGED_COLUMNS, args.output)
    return EXIT_OK


#: A task instance's task state store keys.
STATE_COLUMNS: list[Column[TaskStateEntry]] = [
    Column("key", lambda entry: entry.key),
    Column("value", lambda entry: json.dumps(entry.value)),
    Column("updated", lambda entry: entry.updated_at),
    Column("expires", lambda entry: entry.expires_at or "never"),
]


async def state(client: Client, args: argparse.Namespace) -> int:
    """Print the keys a task instance kept with task_state_store."""
    entries = await client.task_state(
        args.dag_id, args.run_id, args.task_id, map_index=args.map_index
    )
    print_records(entries, STATE_COLUMNS, args.output)
    return EXIT_OK


def _add_ti_key(parser: argparse.ArgumentParser, *, all_when_mapped: bool = False) -> None:
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("task_id", metavar="TASK_ID")
    parser.add_argument(
        "-m",
        "--map-index",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="the instance of a mapped task"
        + (" (default: every instance)" if all_when_mapped else ""),
    )


def _add_relatives(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-u", "--upstream", action="store_true", help="include upstream tasks")
    parser.add_argument("-d", "--downstream", action="store_true", help="include downstream tasks")


def register(subcommands: Subcommands) -> None:
    """Add ``tradewind tasks ...``.

    Args:
        subcommands: the ``tradewind`` parser's commands.

    """
    verbs = add_noun(
        subcommands, "tasks", help="read task logs, clear, mark and test task instances"
    )

    parser = add_command(verbs, "logs", logs, help="print the log of a task instance's try")
    _add_ti_key(parser)
    parser.add_argument(
        "--try",
        dest="try_number",
        type=positive_int,
        default=0,
        metavar="N",
        help="the try (default: the latest)",
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing lines until the try ends"
    )

    parser = add_command(verbs, "clear", clear, help="make task instances run again", output=True)
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument("-r", "--run-id", default="", help="only this run (default: every run)")
    parser.add_argument(
        "-t", "--task-id", action="append", help="only this task (repeatable; default: all)"
    )
    parser.add_argument(
        "-m",
        "--map-index",
        type=non_negative_int,
        action="append",
        metavar="N",
        help="only this map index of the --task-id tasks (repeatable; default: every instance)",
    )
    _add_relatives(parser)
    parser.add_argument(
        "-f", "--only-failed", action="store_true", help="only failed and upstream_failed ones"
    )
    parser.add_argument(
        "--include-dependent-dags",
        action="store_true",
        help="follow ExternalTaskMarkers: also clear the tasks of other DAGs they name",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be cleared; change nothing"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    parser = add_command(verbs, "mark", mark, help="set a task instance's state", output=True)
    _add_ti_key(parser, all_when_mapped=True)
    parser.add_argument("-s", "--state", required=True, choices=[s.value for s in MARKABLE_STATES])
    _add_relatives(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change; change nothing"
    )

    parser = add_command(
        verbs,
        "state",
        state,
        help="show the keys a task instance kept with task_state_store",
        output=True,
    )
    _add_ti_key(parser)

    register_tasks_test(verbs)
