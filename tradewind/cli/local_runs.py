"""``tradewind dags test`` and ``tradewind tasks test``: a DAG or one task, run in this process.

Like Airflow's commands of the same names, they need no running service: the DAG is loaded from
the DAG folder and run with ``tradewind.testing`` (the scheduler's own decisions), each task's
output and log on the console as it runs. Nothing is recorded anywhere; Variables and
Connections come from files in Airflow's JSON export format (``--variables``,
``--connections``), XComs live for the run only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.graph import dependency_order
from core.retries import RetryPolicy
from core.runs import run_id_for
from core.states import DagRunState, DagRunType, TaskInstanceState
from core.tries import end_of_try
from tradewind.cli.arguments import date_time, json_object
from tradewind.cli.exchange import connection_entries, read_document, variable_entries
from tradewind.cli.output import print_json, render_table
from tradewind.cli.runner import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Subcommands
from tradewind.sdk.connection import Connection
from tradewind.sdk.context import Context, build_context
from tradewind.sdk.dag import DAG
from tradewind.sdk.discovery import find_dag_files
from tradewind.sdk.execution import TaskResult
from tradewind.sdk.inline_triggers import Pokes, run_to_end
from tradewind.sdk.loader import DagImportError, load_dags_from_file
from tradewind.sdk.memory import InMemoryStore
from tradewind.sdk.params import resolve_params
from tradewind.sdk.runtime import use_runtime
from tradewind.testing import DagTestResult, run_dag
from tradewind_common.config import PLUGINS_FOLDER, ConfigError

#: Where DAG files are looked for unless --dags-folder or TRADEWIND_DAGS_FOLDER says otherwise.
DEFAULT_DAGS_FOLDER = "dags"


class LocalRunError(Exception):
    """Why a local run could not start: one line a person can act on."""


@dataclass(frozen=True)
class _ConsoleObserver:
    """Writes a line as each try starts and ends (the task's own output comes between)."""

    def try_started(self, task_id: str, try_number: int) -> None:
        print(f"--- {task_id}: try {try_number} started", flush=True)

    def try_ended(
        self, task_id: str, try_number: int, result: TaskResult, state: TaskInstanceState
    ) -> None:
        why = f": {result.error.message}" if result.error is not None else ""
        print(f"--- {task_id}: try {try_number} ended {state.value}{why}", flush=True)


def find_dag(dag_id: str, folder: Path) -> DAG:
    """The DAG ``dag_id`` from the DAG files in ``folder``.

    Files whose text names the id are read first; the others only when it is not found there
    (a DAG id may be computed).

    Raises:
        LocalRunError: no such folder, or no such DAG in it (naming the files that failed to
            import, one of which may hold it).

    """
    if not folder.is_dir():
        raise LocalRunError(
            f"no DAG folder at {folder} (give it with --dags-folder or TRADEWIND_DAGS_FOLDER)"
        )
    files = [folder / f.relative for f in find_dag_files(folder)]
    naming = [p for p in files if dag_id in p.read_text(errors="replace")]
    failed: list[DagImportError] = []
    for path in [*naming, *(p for p in files if p not in naming)]:
        loaded = load_dags_from_file(path, dags_folder=folder)
        for dag in loaded.dags:
            if dag.dag_id == dag_id:
                return dag
        if loaded.error is not None:
            failed.append(loaded.error)
    message = f"no DAG {dag_id!r} in {folder} ({len(files)} DAG files)"
    if failed:
        first = failed[0]
        message += (
            f"; {len(failed)} failed to import, e.g. {first.relative_filename}: {first.message}"
        )
    raise LocalRunError(message)


def _store(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, Connection]]:
    variables: dict[str, str] = {}
    connections: dict[str, Connection] = {}
    if args.variables:
        for entry in variable_entries(read_document(args.variables)):
            variables[entry.key] = entry.value
    if args.connections:
        for found in connection_entries(read_document(args.connections)):
            connections[found.conn_id] = Connection(
                conn_id=found.conn_id,
                conn_type=found.conn_type,
                description=found.description or None,
                host=found.host or None,
                login=found.login or None,
                password=found.password or None,
                schema=found.schema or None,
                port=found.port,
                extra=found.extra_json or None,
            )
    return variables, connections


def _folder(args: argparse.Namespace) -> Path:
    return Path(args.dags_folder).expanduser()


#: What a local command returns: its exit status and, with -o json, the document to print.
Outcome = tuple[int, dict[str, Any] | None]


def test_dag(args: argparse.Namespace) -> Outcome:
    """Run one DAG run in process; print each try, then every task's final state."""
    dag = find_dag(args.dag_id, _folder(args))
    variables, connections = _store(args)
    logical = args.logical_date or datetime.now(UTC)
    print(f"Running {dag.dag_id} in this process (logical date {logical.isoformat()})", flush=True)
    result = run_dag(
        dag,
        conf=args.conf,
        logical_date=logical,
        variables=variables,
        connections=connections,
        observer=_ConsoleObserver(),
    )
    status = EXIT_OK if result.state == DagRunState.SUCCESS else EXIT_FAILED
    return status, _print_outcome(dag, result, args.output)


def _print_outcome(dag: DAG, result: DagTestResult, output: str) -> dict[str, Any] | None:
    order = dependency_order({t.task_id: t.upstream_task_ids for t in dag.tasks})
    if output == "json":
        return {
            "dag_id": result.dag_id,
            "run_id": result.run_id,
            "state": result.state.value,
            "task_states": {t: result.task_states[t].value for t in order},
            "xcoms": result.xcoms,
        }
    rows = [
        [
            task_id,
            result.task_states[task_id].value,
            str(len(result.tries.get(task_id, []))),
            str(len(result.map_states[task_id])) if task_id in result.map_states else "",
        ]
        for task_id in order
    ]
    print()
    print(render_table(["task_id", "state", "tries", "map_indexes"], rows))
    line = f"\nrun {result.run_id}: {result.state.value}"
    if result.failed_task_ids:
        line += f" (failed: {', '.join(result.failed_task_ids)})"
    print(line)
    return None


def test_task(args: argparse.Namespace) -> Outcome:
    """Run one try of one task in process, without its upstream tasks and recording nothing."""
    dag = find_dag(args.dag_id, _folder(args))
    if args.task_id not in dag.task_dict:
        known = ", ".join(sorted(dag.task_dict)) or "none"
        raise LocalRunError(f"DAG {dag.dag_id!r} has no task {args.task_id!r} (its tasks: {known})")
    task = dag.task_dict[args.task_id]
    variables, connections = _store(args)
    logical = args.logical_date or datetime.now(UTC)
    conf: dict[str, Any] = {}
    resolve_params(dag.params, conf)
    store = InMemoryStore(variables=variables, connections=connections)
    pokes = Pokes()

    def context() -> Context:
        made = build_context(
            task=task,
            run_id=run_id_for(DagRunType.MANUAL, logical),
            logical_date=logical,
            conf=conf,
            task_reschedule_count=pokes.reschedules,
            first_reschedule_date=pokes.first_started_at,
        )
        made["params"].update(args.task_params or {})
        return made

    console = _ConsoleObserver()
    console.try_started(task.task_id, 1)
    with use_runtime(store.runtime_for(task.task_id)):
        # A deferral's trigger and a sensor's reschedules run here, as the services would.
        result = run_to_end(task, context, will_retry=False, pokes=pokes)
    # One try and no retry: the state the state service would give it (core's one rule).
    state = end_of_try(
        state=TaskInstanceState.RUNNING,
        outcome=result.outcome,
        try_number=1,
        max_tries=1,
        retry=RetryPolicy(),
        ended_at=datetime.now(UTC),
        identity=task.task_id,
    ).state
    console.try_ended(task.task_id, 1, result, state)
    succeeded = state in (TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED)
    document = _print_task_outcome(task.task_id, state, result, args.output)
    return (EXIT_OK if succeeded else EXIT_FAILED), document


def _print_task_outcome(
    task_id: str, state: TaskInstanceState, result: TaskResult, output: str
) -> dict[str, Any] | None:
    if output == "json":
        return {
            "task_id": task_id,
            "state": state.value,
            "xcoms": dict(result.xcoms),
            "skip_task_ids": sorted(result.skip_task_ids),
            "error": result.error.message if result.error is not None else None,
        }
    for key, value in result.xcoms.items():
        print(f"XCom {key}: {json.dumps(value, default=str)}")
    if result.skip_task_ids:
        print(f"would skip: {', '.join(sorted(result.skip_task_ids))}")
    return None


def _handled(
    command: Callable[[argparse.Namespace], Outcome],
) -> Callable[[argparse.Namespace], int]:
    """Run ``command(args)``: one error line and a status for what a person can fix."""

    def handler(args: argparse.Namespace) -> int:
        # With -o json the document alone goes to stdout: what tasks print, their log and the
        # progress lines go to stderr.
        console = sys.stderr if args.output == "json" else sys.stdout
        if args.plugins_folder:
            # DAG files import from it (a user's timetable, say), as the services let them.
            os.environ[PLUGINS_FOLDER.env] = str(Path(args.plugins_folder).expanduser().resolve())
        logging.basicConfig(
            level=logging.INFO, stream=console, format="%(asctime)s %(levelname)s %(message)s"
        )
        try:
            with contextlib.redirect_stdout(console):
                status, document = command(args)
            if document is not None:
                print_json(document)
            return status
        except (LocalRunError, ConfigError, OSError, ValueError) as err:
            print(f"{args.prog}: error: {err}", file=sys.stderr)
            return EXIT_FAILED if isinstance(err, LocalRunError | OSError) else EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{args.prog}: error: interrupted", file=sys.stderr)
            return EXIT_FAILED

    return handler


def _add(
    verbs: Subcommands,
    name: str,
    help: str,
    command: Callable[[argparse.Namespace], Outcome],
    *,
    task: bool,
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help, description=help)
    parser.add_argument("dag_id", metavar="DAG_ID")
    if task:
        parser.add_argument("task_id", metavar="TASK_ID")
    parser.add_argument(
        "logical_date",
        metavar="LOGICAL_DATE",
        nargs="?",
        type=date_time,
        help="the run's logical date (default: now)",
    )
    parser.add_argument(
        "--dags-folder",
        default=_default_folder(),
        help="the folder of DAG files [env TRADEWIND_DAGS_FOLDER; default dags]",
    )
    parser.add_argument(
        "--plugins-folder",
        default=os.environ.get(PLUGINS_FOLDER.env, ""),
        help="the plugins folder DAG files import from [env TRADEWIND_PLUGINS_FOLDER]",
    )
    parser.add_argument(
        "--variables",
        metavar="FILE",
        help="Variables tasks read, a JSON file as variables export writes",
    )
    parser.add_argument(
        "--connections",
        metavar="FILE",
        help="Connections tasks read, a JSON file as connections export writes",
    )
    parser.add_argument(
        "-o", "--output", choices=("table", "json"), default="table", help="table or json"
    )
    parser.set_defaults(handler=_handled(command), prog=parser.prog)
    return parser


def _default_folder() -> str:
    return os.environ.get("TRADEWIND_DAGS_FOLDER", DEFAULT_DAGS_FOLDER)


def register_dags_test(verbs: Subcommands) -> None:
    """Add ``tradewind dags test``."""
    parser = _add(
        verbs,
        "test",
        "run a DAG once in this process, without any service, showing each task as it runs",
        test_dag,
        task=False,
    )
    parser.add_argument("-c", "--conf", type=json_object, help="the run's conf, a JSON object")


def register_tasks_test(verbs: Subcommands) -> None:
    """Add ``tradewind tasks test``."""
    parser = _add(
        verbs,
        "test",
        "run one task once in this process, without its upstream tasks, recording nothing",
        test_task,
        task=True,
    )
    parser.add_argument(
        "-t", "--task-params", type=json_object, help="params for the task, a JSON object"
    )
