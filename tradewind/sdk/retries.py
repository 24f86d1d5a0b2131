"""When a failed try is retried: Airflow's retry delay, with exponential back-off and jitter."""

from __future__ import annotations

import hashlib
import math

#: The longest delay ever returned, whatever the settings (one year).
MAX_DELAY_SECONDS = 365 * 24 * 3600.0


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
        identity: a stable id of the task instance (dag, task, run), for the jitter.

    """
    delay = max(0.0, retry_delay)
    if exponential_backoff and delay > 0:
        minimum = math.ceil(delay * 2 ** max(0, try_number - 1))
        digest = int(hashlib.sha1(f"{identity}#{try_number}".encode()).hexdigest(), 16)
        delay = float(minimum + digest % minimum)
    if max_retry_delay is not None:
        delay = min(delay, max_retry_delay)
    return min(delay, MAX_DELAY_SECONDS)
