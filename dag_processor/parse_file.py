"""What runs in a parse process: import one DAG file and serialise what it defines.

The result is a serialised ``FileParseResult`` written to a file descriptor; the parent adds
the lease bookkeeping. Runs in a fork of the processor's fork server, or as
``python -m dag_processor.parse_file FD`` with the job on stdin.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from services.runtime.confinement import isolate, sandbox_from_environment
from tradewind.sdk.exceptions import DagDefinitionError
from tradewind.sdk.loader import combine_errors, describe_error, load_dags_from_file
from tradewind.sdk.serialization import serialize_dag


def parse(dags_folder: str, relative: str) -> processor_pb2.FileParseResult:
    """Import ``relative`` from the DAG folder and describe what it defines."""
    started = time.perf_counter()
    path = Path(dags_folder) / relative
    now = Timestamp()
    now.FromDatetime(datetime.now(UTC))
    result = processor_pb2.FileParseResult(
        relative_fileloc=relative, fileloc=str(path), parsed_at=now
    )
    loaded = load_dags_from_file(path, dags_folder=dags_folder)
    errors = [loaded.error] if loaded.error is not None else []
    for dag in loaded.dags:
        try:
            result.dags.append(serialize_dag(dag, fileloc=str(path), relative_fileloc=relative))
        except DagDefinitionError as err:  # e.g. a timetable not in the plugins folder
            errors.append(describe_error(err, str(path), relative, dag.lineno))
    error = combine_errors(errors)
    if error is not None:
        result.import_error.CopyFrom(
            dag_pb2.ImportError(
                filename=str(path),
                relative_filename=relative,
                message=error.message,
                line_number=error.line_number,
                stacktrace=error.stacktrace,
                timestamp=now,
            )
        )
    elapsed = Duration()
    elapsed.FromNanoseconds(int((time.perf_counter() - started) * 1e9))
    result.parse_duration.CopyFrom(elapsed)
    return result


def run(payload: bytes, result_fd: int) -> int:
    """The fork server's target: parse the file named in ``payload``, write the result."""
    job = json.loads(payload)
    limit = int(job.get("memory_limit_bytes", 0))
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result = parse(job["dags_folder"], job["relative"])
    sys.stdout.flush()
    with os.fdopen(result_fd, "wb") as out:
        out.write(result.SerializeToString())
    return 0


if __name__ == "__main__":
    isolate(sandbox_from_environment())  # before anything of the user's is imported
    sys.exit(run(sys.stdin.buffer.read(), int(sys.argv[1])))
