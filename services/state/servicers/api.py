"""ApiService: the public API, assembled from its parts."""

from __future__ import annotations

from protos.api.v1 import service_pb2_grpc
from services.state.servicers.api_assets import AssetsApi
from services.state.servicers.api_catalog import CatalogApi
from services.state.servicers.api_runs import RunsApi
from services.state.services import StateServices


class ApiServicer(CatalogApi, RunsApi, AssetsApi, service_pb2_grpc.ApiServiceServicer):
    """The public API that people, the CLI and the Python client use."""

    def __init__(self, services: StateServices) -> None:
        self._services = services
