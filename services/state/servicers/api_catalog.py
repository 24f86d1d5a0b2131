"""ApiService, the catalog half: DAGs, DAG files, import errors, variables, connections, pools."""

from __future__ import annotations

from services.state.services import StateServices


class CatalogApi:
    """The catalog RPCs of ApiService (mixed into ApiServicer)."""

    _services: StateServices
