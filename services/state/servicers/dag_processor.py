"""DagProcessorService: file leases and parse results from DAG processor replicas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grpc import aio

from protos.dag.v1 import message_pb2 as dag_pb2
from protos.dag_processor.v1 import message_pb2 as processor_pb2
from protos.dag_processor.v1 import request_response_pb2 as rr
from protos.dag_processor.v1 import service_pb2_grpc
from services.runtime.errors import InvalidArgument
from services.runtime.protoconv import timestamp, to_datetime, to_seconds
from services.state.clock import utcnow
from services.state.metrics import LEASES
from services.state.services import StateServices
from services.state.store import dag_files
from services.state.validation import identifier, positive_seconds


def check_serialized_dag(serialized: dag_pb2.SerializedDag, path: str, field: str) -> None:
    """Refuse a DAG whose structure the scheduler could not work with."""
    definition = serialized.definition
    identifier(definition.dag_id, f"{field}.definition.dag_id")
    if not serialized.content_hash:
        raise InvalidArgument(f"{field}.content_hash", "is required")
    if definition.relative_fileloc != path:
        raise InvalidArgument(
            f"{field}.definition.relative_fileloc", f"must be the reported file {path!r}"
        )
    task_ids = [t.task_id for t in definition.tasks]
    if len(set(task_ids)) != len(task_ids):
        raise InvalidArgument(f"{field}.definition.tasks", "has duplicate task ids")
    known = set(task_ids)
    for index, task in enumerate(definition.tasks):
        identifier(task.task_id, f"{field}.definition.tasks[{index}].task_id")
        unknown = set(task.upstream_task_ids) - known
        if unknown:
            raise InvalidArgument(
                f"{field}.definition.tasks[{index}].upstream_task_ids",
                f"names unknown tasks {sorted(unknown)}",
            )


def parse_result(result: processor_pb2.FileParseResult) -> dag_files.ParseResult:
    """The store's view of one file's parse result."""
    failure = None
    if result.HasField("import_error"):
        error = result.import_error
        failure = dag_files.ImportFailure(
            message=error.message,
            filename=error.filename,
            line_number=error.line_number,
            stacktrace=error.stacktrace,
            timestamp=to_datetime(error, "timestamp"),
        )
    return dag_files.ParseResult(
        relative_fileloc=result.relative_fileloc,
        fileloc=result.fileloc,
        parsed_at=to_datetime(result, "parsed_at"),
        parse_seconds=to_seconds(result, "parse_duration"),
        dags=list(result.dags),
        unchanged_dag_ids=list(result.unchanged_dag_ids),
        import_error=failure,
    )


class DagProcessorServicer(service_pb2_grpc.DagProcessorServiceServicer):
    """Shares DAG files among processor replicas and stores what parsing them produced."""

    def __init__(self, services: StateServices) -> None:
        self._services = services

    async def AcquireDagFileLeases(
        self, request: rr.AcquireDagFileLeasesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.AcquireDagFileLeasesResponse:
        """Renew and grant file leases."""
        processor_id = identifier(request.processor_id, "processor_id")
        seconds = positive_seconds(to_seconds(request, "lease_duration"), "lease_duration")
        files = [identifier(p, "relative_filelocs") for p in request.relative_filelocs]
        now = utcnow()
        grant = await self._services.write(
            lambda s: dag_files.acquire_file_leases(
                s, processor_id, files, timedelta(seconds=seconds), now
            ),
            name="acquire_file_leases",
        )
        LEASES.labels("dag_file", "granted").inc(len(grant.leases))
        return rr.AcquireDagFileLeasesResponse(
            leases=[
                processor_pb2.DagFileLease(relative_fileloc=path, expires_at=timestamp(expires))
                for path, expires in grant.leases
            ],
            live_processors=grant.live_processors,
        )

    async def ReleaseDagFileLeases(
        self, request: rr.ReleaseDagFileLeasesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReleaseDagFileLeasesResponse:
        """Give back file leases."""
        processor_id = identifier(request.processor_id, "processor_id")
        files = list(request.relative_filelocs)
        released = await self._services.write(
            lambda s: dag_files.release_file_leases(s, processor_id, files),
            name="release_file_leases",
        )
        return rr.ReleaseDagFileLeasesResponse(released=released)

    async def ReportParseResults(
        self, request: rr.ReportParseResultsRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReportParseResultsResponse:
        """Store each file's result in its own transaction."""
        processor_id = identifier(request.processor_id, "processor_id")
        for index, result in enumerate(request.results):
            identifier(result.relative_fileloc, f"results[{index}].relative_fileloc")
            for position, serialized in enumerate(result.dags):
                check_serialized_dag(
                    serialized, result.relative_fileloc, f"results[{index}].dags[{position}]"
                )
        outcomes = []
        for result in request.results:
            outcomes.append(await self._report(processor_id, parse_result(result)))
        return rr.ReportParseResultsResponse(outcomes=outcomes)

    async def _report(
        self, processor_id: str, result: dag_files.ParseResult
    ) -> processor_pb2.FileParseOutcome:
        now = utcnow()
        outcome = await self._services.write(
            lambda s: dag_files.report_parse_result(s, processor_id, result, now),
            name="report_parse_result",
        )
        return processor_pb2.FileParseOutcome(
            relative_fileloc=outcome.relative_fileloc,
            accepted=outcome.accepted,
            updated_dag_ids=outcome.updated_dag_ids,
            deactivated_dag_ids=outcome.deactivated_dag_ids,
            conflicting_dag_ids=outcome.conflicting_dag_ids,
            resend_dag_ids=outcome.resend_dag_ids,
        )

    async def ListDagContentHashes(
        self, request: rr.ListDagContentHashesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ListDagContentHashesResponse:
        """The content hashes held per file."""
        files = list(request.relative_filelocs)
        result = await self._services.read(
            lambda s: dag_files.dag_content_hashes(s, files), name="dag_content_hashes"
        )
        return rr.ListDagContentHashesResponse(
            files=[
                processor_pb2.FileDagHashes(relative_fileloc=path, content_hashes=hashes)
                for path, hashes in result.items()
            ]
        )

    async def ReconcileDagFiles(
        self, request: rr.ReconcileDagFilesRequest, context: aio.ServicerContext[Any, Any]
    ) -> rr.ReconcileDagFilesResponse:
        """Retire what belongs to files that are gone."""
        identifier(request.processor_id, "processor_id")
        present = list(request.relative_filelocs)
        now = utcnow()
        deactivated, cleared = await self._services.write(
            lambda s: dag_files.reconcile_dag_files(s, present, now), name="reconcile_dag_files"
        )
        return rr.ReconcileDagFilesResponse(
            deactivated_dag_ids=deactivated, cleared_import_errors=cleared
        )
