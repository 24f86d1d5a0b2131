"""ApiService, the runs half: DAG runs, task instances, tries, logs, XCom."""

from __future__ import annotations

from services.state.services import StateServices


class RunsApi:
    """The run RPCs of ApiService (mixed into ApiServicer)."""

    _services: StateServices
