"""Client methods for task logs: reading what is stored, and following a try as it runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from grpc import aio

from protos.api.v1 import request_response_pb2 as rr
from tradewind.client._base import ClientBase, ti_key
from tradewind.client._errors import UnavailableError, error_from_rpc
from tradewind.client._models import LogLine, TaskLogs

#: How often a followed log is reopened after the stream broke (another replica may serve it),
#: and the pause before each attempt; receiving lines resets the count.
FOLLOW_RECONNECT_ATTEMPTS = 5
FOLLOW_RECONNECT_DELAY_SECONDS = 0.5


class LogMethods(ClientBase):
    """Reading and following task logs."""

    async def get_task_logs(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int = 0,
        after_sequence: int = 0,
        max_lines: int = 0,
        map_index: int | None = None,
    ) -> TaskLogs:
        """Read one batch of log lines of a try.

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: the task.
            try_number: the try; 0 for the latest.
            after_sequence: return lines after this sequence number.
            max_lines: at most this many lines; 0 for the server's limit (1000).
            map_index: the instance of a mapped task; None for a task that is not mapped.

        Returns:
            The lines, the try they belong to, and whether the log is complete.

        Raises:
            NotFoundError: no such task instance or try.

        """
        response = await self._call(
            self._stub.GetTaskInstanceLogs,
            rr.GetTaskInstanceLogsRequest(
                key=ti_key(dag_id, run_id, task_id, map_index),
                try_number=try_number,
                after_sequence=after_sequence,
                max_lines=max_lines,
            ),
        )
        number = response.try_number
        return TaskLogs(
            lines=tuple(LogLine.from_proto(line, try_number=number) for line in response.lines),
            try_number=number,
            complete=response.complete,
        )

    async def task_logs(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int = 0,
        map_index: int | None = None,
    ) -> AsyncIterator[LogLine]:
        """Iterate over every log line of a try stored so far, across batches.

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: the task.
            try_number: the try; 0 for the latest.
            map_index: the instance of a mapped task; None for a task that is not mapped.

        Returns:
            An async iterator of :class:`LogLine`.

        Raises:
            NotFoundError: no such task instance or try.

        """
        after = 0
        while True:
            batch = await self.get_task_logs(
                dag_id,
                run_id,
                task_id,
                try_number=try_number,
                after_sequence=after,
                map_index=map_index,
            )
            for line in batch.lines:
                yield line
            if batch.complete or not batch.lines:
                return
            after = batch.lines[-1].sequence
            # Pin the try the first batch resolved, so that a try starting meanwhile does not
            # splice its lines onto this one's.
            try_number = batch.try_number

    async def follow_logs(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int = 0,
        after_sequence: int = 0,
        map_index: int | None = None,
    ) -> AsyncIterator[LogLine]:
        """Iterate over a try's log as it is written, until the try has ended.

        Waits for the first try when the task instance has not started. When the stream breaks
        (a replica stopped), it is reopened after the last line seen.

        Args:
            dag_id: the DAG.
            run_id: the run.
            task_id: the task.
            try_number: the try; 0 for the latest.
            after_sequence: start after this sequence number.
            map_index: the instance of a mapped task; None for a task that is not mapped.

        Returns:
            An async iterator of :class:`LogLine` that ends with the try.

        Raises:
            NotFoundError: no such task instance or try.
            UnavailableError: the stream could not be reopened.

        """
        key = ti_key(dag_id, run_id, task_id, map_index)
        number, after, failures = try_number, after_sequence, 0
        while True:
            call = self._stub.WatchTaskInstanceLogs(
                rr.WatchTaskInstanceLogsRequest(key=key, try_number=number, after_sequence=after)
            )
            try:
                async for response in call:
                    number = response.try_number or number
                    for proto in response.lines:
                        after, failures = proto.sequence, 0
                        yield LogLine.from_proto(proto, try_number=number)
                    if response.complete:
                        return
            except aio.AioRpcError as err:
                error = error_from_rpc(err, address=self.address)
                if not isinstance(error, UnavailableError) or failures >= FOLLOW_RECONNECT_ATTEMPTS:
                    raise error from err
            finally:
                call.cancel()
            # The stream ended without the try's end (the replica is stopping) or broke.
            failures += 1
            if failures > FOLLOW_RECONNECT_ATTEMPTS:
                raise UnavailableError(
                    f"the log stream of {dag_id}/{run_id}/{task_id} keeps closing",
                    address=self.address,
                )
            await asyncio.sleep(FOLLOW_RECONNECT_DELAY_SECONDS)
