"""When a DAG scheduled on assets runs: its condition over the asset events queued for it.

Pure decisions on the contract's ``AssetCondition`` and the queue the state service reports.
As in Airflow, an asset holds when it has a queued event, a reference when an asset with its
name (or URI) has one, an alias when an asset attached to it has one; ``all`` and ``any``
combine them. Several events of one asset before the run count once, and the run consumes
every queued event it saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from protos.dag.v1 import message_pb2 as dag_pb2


@dataclass(frozen=True)
class QueuedAsset:
    """An asset with a queued event for the DAG, and the aliases it is attached to."""

    name: str
    uri: str
    created_at: datetime
    aliases: frozenset[str] = frozenset()


def condition_holds(condition: dag_pb2.AssetCondition, queued: Sequence[QueuedAsset]) -> bool:
    """Whether ``condition`` holds over the queued assets.

    Args:
        condition: the DAG's asset condition.
        queued: the assets with an event queued for the DAG.

    Returns:
        True when a run is due.

    Raises:
        ValueError: a condition with a part of no kind (a malformed definition).

    """
    kind = condition.WhichOneof("kind")
    if kind == "asset":
        return any(q.name == condition.asset.name and q.uri == condition.asset.uri for q in queued)
    if kind == "reference":
        reference = condition.reference
        if reference.WhichOneof("key") == "name":
            return any(q.name == reference.name for q in queued)
        return any(q.uri == reference.uri for q in queued)
    if kind == "alias":
        return any(condition.alias.name in q.aliases for q in queued)
    if kind == "all":
        return all(condition_holds(part, queued) for part in condition.all.parts)
    if kind == "any":
        return any(condition_holds(part, queued) for part in condition.any.parts)
    raise ValueError("an asset condition part names no asset, alias, reference, all or any")


@dataclass(frozen=True, kw_only=True)
class AssetDag:
    """A DAG scheduled on assets, and where it stands, as the state service reports it."""

    dag_id: str
    content_hash: str
    condition: dag_pb2.AssetCondition
    queued: tuple[QueuedAsset, ...]
    active_runs: int
    max_active_runs: int


@dataclass(frozen=True, kw_only=True)
class AssetRun:
    """An asset-triggered run to ask for: it consumes these queued events."""

    dag_id: str
    content_hash: str
    consumed: tuple[QueuedAsset, ...]

    @property
    def triggered_at(self) -> datetime:
        """The run's logical date: its newest queued event."""
        return max(q.created_at for q in self.consumed)


def plan_asset_run(dag: AssetDag) -> AssetRun | None:
    """The run to create now, or None (condition not met, or max_active_runs reached).

    A DAG at max_active_runs keeps its queue; a run ending lets the next pass create it.
    """
    if not dag.queued or dag.active_runs >= dag.max_active_runs:
        return None
    if not condition_holds(dag.condition, dag.queued):
        return None
    return AssetRun(dag_id=dag.dag_id, content_hash=dag.content_hash, consumed=dag.queued)
