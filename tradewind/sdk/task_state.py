"""``task_state_store`` (Airflow 3.3): key/values a task instance keeps across its tries.

In a task, ``context["task_state_store"]`` (also ``context["task_store"]``) reads and writes
the keys of the running task instance (its DAG, run, task and map index); a retry finds what
an earlier try kept, such as the id of an external job it submitted::

    @task(retries=3)
    def submit(**context):
        store = context["task_state_store"]
        job_id = store.get("job_id")
        if job_id is None:
            job_id = start_job()
            store.set("job_id", job_id, retention=timedelta(days=1))
        return wait_for(job_id)
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Final

from tradewind.sdk.runtime import current_runtime


class _NeverExpire:
    """The type of :data:`NEVER_EXPIRE`."""

    _instance: _NeverExpire | None = None

    def __new__(cls) -> _NeverExpire:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEVER_EXPIRE"


#: ``set(key, value, retention=NEVER_EXPIRE)``: the key never expires.
NEVER_EXPIRE: Final = _NeverExpire()


class TaskStateStore:
    """The task state store of the running task instance (reached through its task runtime)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when it is unset or has expired.

        Args:
            key: the key.
            default: returned when the key is not set.

        Returns:
            The JSON value.

        """
        text = current_runtime().get_task_state(key)
        return json.loads(text) if text is not None else default

    def set(
        self, key: str, value: Any, *, retention: timedelta | _NeverExpire | None = None
    ) -> None:
        """Store ``value`` under ``key``, replacing any earlier value.

        Args:
            key: the key.
            value: any JSON value but None (delete the key instead).
            retention: how long the key lives: a ``timedelta``, :data:`NEVER_EXPIRE`, or None
                for the deployment's default (30 days unless configured).

        Raises:
            ValueError: ``value`` is None, or ``retention`` is not positive.
            TypeError: ``value`` is not JSON-serialisable, or ``retention`` has another type.

        """
        if value is None:
            raise ValueError("task_state_store.set() does not store None: use delete() instead")
        if retention is not None and not isinstance(retention, timedelta | _NeverExpire):
            raise TypeError("retention must be a timedelta, NEVER_EXPIRE or None")
        if isinstance(retention, timedelta) and retention <= timedelta(0):
            raise ValueError("retention must be a positive timedelta")
        never = isinstance(retention, _NeverExpire)
        current_runtime().set_task_state(
            key,
            json.dumps(value),
            retention=retention if isinstance(retention, timedelta) else None,
            never_expire=never,
        )

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a key that is not set is not an error.

        Args:
            key: the key.

        """
        current_runtime().delete_task_state(key)

    def clear(self) -> None:
        """Delete every key of the task instance."""
        current_runtime().clear_task_state()

    def __repr__(self) -> str:
        return "<TaskStateStore of the running task instance>"
