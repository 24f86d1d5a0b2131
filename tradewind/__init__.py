"""Tradewind: Airflow-style Python DAGs, run by a suite of gRPC services."""

from tradewind._version import tradewind_version

__version__ = tradewind_version()

__all__ = ["__version__"]
