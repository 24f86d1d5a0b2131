"""What runs inside a task process: load the DAG file, build the context, run the task.

The result (outcome, error, XComs to store, downstream tasks to skip) is written as JSON to a
file descriptor the executor reads; stdout and stderr are the executor's log capture, and
records of Python's logging module are marked so the executor files them as logging lines.
Started by the fork server (:func:`run_from_spec`) or as ``python -m executor.task_runner FD``
with the spec on stdin.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.states import TryOutcome
from executor.capture import LOGGING_MARK
from executor.grpc_runtime import GrpcTaskRuntime
from executor.spec import TryResult, TrySpec
from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.confinement import isolate, sandbox_from_environment
from services.runtime.hardening import forbid_inspection
from tradewind.sdk import serde
from tradewind.sdk.asset_events import OutletEventPayload
from tradewind.sdk.assets import asset_message
from tradewind.sdk.context import build_context, use_context
from tradewind.sdk.exceptions import TaskTerminated
from tradewind.sdk.execution import Deferral, Resumption, execute_task, kill_running_task
from tradewind.sdk.loader import LoadResult, load_dags_from_file
from tradewind.sdk.runtime import use_runtime
from tradewind_common.channels import ChannelConfig
from tradewind_common.tls import ClientTLSConfig


class _MarkedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes logging records to stderr, marked with their level for the executor."""

    def format(self, record: logging.LogRecord) -> str:
        return (
            f"{LOGGING_MARK}{record.levelname}{LOGGING_MARK}{record.name}: {super().format(record)}"
        )


def _configure_output() -> None:
    # stdout and stderr are pipes to the executor, so Python would block-buffer them and a
    # task's prints would reach the log only when it ends; flush each line instead.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    handler = _MarkedHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _when(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _channel_config(spec: TrySpec) -> ChannelConfig:
    tls = None
    if spec.state_tls_ca or spec.state_tls_cert:
        tls = ClientTLSConfig(
            ca_file=Path(spec.state_tls_ca) if spec.state_tls_ca else None,
            cert_file=Path(spec.state_tls_cert) if spec.state_tls_cert else None,
            key_file=Path(spec.state_tls_key) if spec.state_tls_key else None,
        )
    return ChannelConfig(targets=tuple(spec.state_targets), tls=tls)


def _failure(error: BaseException, started: datetime, message: str = "") -> TryResult:
    return TryResult(
        outcome=TryOutcome.FAILED,
        process_started_at=started.isoformat(),
        error_type=type(error).__name__,
        error_message=message or str(error),
        error_traceback="".join(traceback.format_exception(error)),
    )


#: DAG files loaded in this process, by (path, mtime, size): a fork server that loaded a file
#: before forking hands the result to every child (copy-on-write), which then runs at once.
_LOADED: dict[tuple[str, int, int], LoadResult] = {}
LOADED_FILES = 64
#: How long the fork server may spend importing a DAG file before it leaves it to the child.
PREPARE_SECONDS = 5.0


def load_dags(path: Path, dags_folder: Path) -> LoadResult:
    """The DAGs of a file, imported once per version of the file in this process."""
    try:
        stat = path.stat()
    except OSError:
        return load_dags_from_file(path, dags_folder=dags_folder)
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _LOADED.get(key)
    if found is None:
        found = load_dags_from_file(path, dags_folder=dags_folder)
        if found.error is None:
            while len(_LOADED) >= LOADED_FILES:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = found
    return found


def _too_slow(signum: int, frame: object) -> None:
    raise TimeoutError("importing the DAG file in the fork server took too long")


def prepare(payload: bytes) -> None:
    """In the fork server, before forking: import the try's DAG file if not done yet.

    A file that takes longer than PREPARE_SECONDS is left for the child to import (where the
    executor's timeouts apply); nothing a DAG file does here can stop the fork server.
    """
    spec = TrySpec.from_json(payload)
    previous = signal.signal(signal.SIGALRM, _too_slow)
    signal.setitimer(signal.ITIMER_REAL, PREPARE_SECONDS)
    try:
        load_dags(Path(spec.dags_folder) / spec.relative_fileloc, Path(spec.dags_folder))
    except BaseException:
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _terminate(signum: int, frame: object) -> None:
    kill_running_task()
    raise TaskTerminated(f"the task process was told to stop ({signal.Signals(signum).name})")


@contextlib.contextmanager
def _terminated_by_sigterm() -> Iterator[None]:
    """While the task runs, SIGTERM calls its on_kill, then fails it (as in Airflow).

    The failure runs the task's failure callbacks; the executor, which sent the signal, records
    why it stopped the try.
    """
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_try(spec: TrySpec) -> TryResult:
    """Run one try in this process and return its result (never raises)."""
    started = datetime.now(UTC)
    _configure_output()
    path = Path(spec.dags_folder) / spec.relative_fileloc
    loaded = load_dags(path, Path(spec.dags_folder))
    if loaded.error is not None:
        print(f"DAG file {path} failed to import:\n{loaded.error.stacktrace}", file=sys.stderr)
        return TryResult(
            outcome=TryOutcome.FAILED,
            process_started_at=started.isoformat(),
            error_type="DagImportError",
            error_message=f"{path}: {loaded.error.message}",
            error_traceback=loaded.error.stacktrace,
        )
    dag = next((d for d in loaded.dags if d.dag_id == spec.dag_id), None)
    if dag is None or spec.task_id not in dag.task_dict:
        what = (
            f"DAG {spec.dag_id!r}"
            if dag is None
            else f"task {spec.task_id!r} of DAG {spec.dag_id!r}"
        )
        error = LookupError(f"{path} no longer defines {what}")
        return _failure(error, started)
    task = dag.task_dict[spec.task_id]
    lease = run_pb2.TryLease(
        key=run_pb2.TaskInstanceKey(
            dag_id=spec.dag_id,
            run_id=spec.run_id,
            task_id=spec.task_id,
            map_index=spec.map_index if spec.map_index >= 0 else None,
        ),
        try_number=spec.try_number,
        lease_id=spec.lease_id,
    )
    runtime = GrpcTaskRuntime(_channel_config(spec), lease)
    try:
        context = build_context(
            task=task,
            run_id=spec.run_id,
            logical_date=_when(spec.logical_date) or started,
            data_interval_start=_when(spec.data_interval_start),
            data_interval_end=_when(spec.data_interval_end),
            conf=json.loads(spec.conf_json or "{}"),
            try_number=spec.try_number,
            max_tries=max(0, spec.max_tries - 1),
            run_type=spec.run_type,
            map_index=spec.map_index,
            task_reschedule_count=spec.task_reschedule_count,
            first_reschedule_date=_when(spec.first_reschedule_date),
            partition_key=spec.partition_key or None,
            partition_date=_when(spec.partition_date),
        )
        resume = (
            Resumption(spec.next_method, serde.loads(spec.next_kwargs_json) or {})
            if spec.next_method
            else None
        )
        with use_runtime(runtime), use_context(context), _terminated_by_sigterm():
            outcome = execute_task(
                task, context, will_retry=spec.try_number < spec.max_tries, resume=resume
            )
    except BaseException as error:
        return _failure(error, started)
    finally:
        runtime.close()
    failure = outcome.error
    return TryResult(
        outcome=str(outcome.outcome),
        process_started_at=started.isoformat(),
        error_type=failure.type if failure else "",
        error_message=failure.message if failure else "",
        error_traceback=failure.traceback if failure else "",
        skip_task_ids=sorted(outcome.skip_task_ids),
        xcoms=[(key, json.dumps(value, default=str)) for key, value in outcome.xcoms.items()],
        rendered_map_index=outcome.rendered_map_index or "",
        deferral=_deferral(outcome.deferral),
        reschedule_date=outcome.reschedule_date.isoformat() if outcome.reschedule_date else "",
        outlet_events=[_outlet_event(event) for event in outcome.outlet_events],
    )


def _outlet_event(event: OutletEventPayload) -> dict[str, Any]:
    asset = asset_message(event.asset)
    return {
        "asset": {
            "name": asset.name,
            "uri": asset.uri,
            "group": asset.group,
            "extra_json": asset.extra_json,
        },
        "extra_json": json.dumps(event.extra, default=str),
        "source_alias_name": event.source_alias_name,
        "partition_keys": sorted(event.partition_keys),
    }


def _deferral(deferral: Deferral | None) -> dict[str, Any] | None:
    if deferral is None:
        return None
    return {
        "trigger_classpath": deferral.trigger_classpath,
        "trigger_kwargs_json": deferral.trigger_kwargs_json,
        "next_method": deferral.next_method,
        "next_kwargs_json": deferral.next_kwargs_json,
        "timeout_seconds": deferral.timeout.total_seconds() if deferral.timeout else None,
    }


def run_from_spec(spec_json: bytes, result_fd: int) -> int:
    """Run the try described by ``spec_json`` and write its result to ``result_fd``."""
    forbid_inspection()  # a fork of the fork server already is; a fresh interpreter is not
    try:
        result = run_try(TrySpec.from_json(spec_json))
    except BaseException as error:
        result = _failure(error, datetime.now(UTC))
    sys.stdout.flush()
    sys.stderr.flush()
    with os.fdopen(result_fd, "wb") as out:
        out.write(result.to_json())
    return 0


if __name__ == "__main__":
    isolate(sandbox_from_environment())  # before the spec (its lease) is read
    sys.exit(run_from_spec(sys.stdin.buffer.read(), int(sys.argv[1])))
