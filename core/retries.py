"""When a failed try is retried: Airflow's retry delay, with exponential back-off and jitter."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

#: The longest delay ever returned, whatever the settings (one year).
MAX_DELAY_SECONDS = 365 * 24 * 3600.0
#: Airflow's default retry_delay (five minutes).
DEFAULT_RETRY_DELAY_SECONDS = 300.0


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """A task's retry settings, in seconds."""

    retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS
    exponential_backoff: bool = False
    max_retry_delay: float | None = None

    def delay_after(self, try_number: int, identity: str) -> float:
        """Seconds to wait after try ``try_number`` failed (see :func:`retry_delay_seconds`)."""
        return retry_delay_seconds(
            try_number=try_number,
            retry_delay=self.retry_delay,
            exponential_backoff=self.exponential_backoff,
            max_retry_delay=self.max_retry_delay,
            identity=identity,
        )


def retry_identity(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """The stable id of a task instance that seeds its back-off jitter."""
    base = f"{dag_id}#{task_id}#{run_id}"
    return base if map_index < 0 else f"{base}#{map_index}"


def retry_delay_seconds(
    *,
    try_number: int,
    retry_delay: float,
    exponential_backoff: bool,
    max_retry_delay: float | None,
    identity: str,
) -> float:
    """Seconds to wait after try ``try_number`` (1-based) failed before the next try.

    Without back-off the delay is ``retry_delay``. With it, the delay doubles with each try and
    a deterministic jitter derived from ``identity`` (the task instance) spreads retries of many
    task instances apart, as in Airflow; ``max_retry_delay`` caps the result.

    Args:
        try_number: the try that just failed, from 1.
        retry_delay: the base delay in seconds.
        exponential_backoff: whether the delay doubles per try.
        max_retry_delay: the cap in seconds, or None.
        identity: a stable id of the task instance (see :func:`retry_identity`).

    """
    delay = max(0.0, retry_delay)
    if exponential_backoff and delay > 0:
        minimum = math.ceil(delay * 2 ** max(0, try_number - 1))
        digest = int(hashlib.sha1(f"{identity}#{try_number}".encode()).hexdigest(), 16)
        delay = float(minimum + digest % minimum)
    if max_retry_delay is not None:
        delay = min(delay, max_retry_delay)
    return min(delay, MAX_DELAY_SECONDS)
