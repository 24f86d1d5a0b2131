"""The lease a task process calls TaskService with, checked against its credential."""

from __future__ import annotations

import hmac
from typing import Any

from grpc import aio

from protos.run.v1 import message_pb2 as run_pb2
from services.runtime.auth import lease_credential
from services.runtime.errors import PermissionDenied
from services.state.servicers.executor import check_lease
from services.state.store.execution import TryLease


def caller_lease(
    request_caller: run_pb2.TryLease, context: aio.ServicerContext[Any, Any]
) -> TryLease:
    """The calling try's lease, checked against the lease the call presents as credential.

    A task process authenticates with its lease (``authorization: Lease <id>``) and may act
    only for that try; the lease's validity itself is checked against the records.
    """
    lease = check_lease(request_caller, "caller")
    presented = lease_credential(context.invocation_metadata() or ())
    if presented is not None and not hmac.compare_digest(
        presented.encode(), lease.lease_id.encode()
    ):
        raise PermissionDenied("a task process may act only for its own try (caller.lease_id)")
    return lease
