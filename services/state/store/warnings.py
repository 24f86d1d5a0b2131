"""DAG warnings: problems of a DAG that are not import errors, kept current by the store.

A DAG whose tasks name a pool that does not exist is stored and runs, but those tasks wait in
``scheduled`` for ever; Airflow records a "non-existent pool" warning for it, and so does the
state service, each time a DAG version is stored or a pool is created or deleted.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from protos.dag.v1 import message_pb2 as dag_pb2
from services.state.db.models import Dag, DagWarning, Pool
from services.state.housekeeping import DEFAULT_POOL
from services.state.store.errors import NotFound
from services.state.store.pages import Page, PageRequest, keyset_page
from services.state.store.transitions import version_of

#: Airflow's name for the warning about tasks naming pools that do not exist.
NON_EXISTENT_POOL = "non-existent pool"


def missing_pools(definition: dag_pb2.DagDefinition, pools: Collection[str]) -> list[str]:
    """The pools the DAG's tasks name that are not among ``pools``, sorted."""
    named = {task.pool or DEFAULT_POOL for task in definition.tasks}
    return sorted(named - set(pools))


def pool_warning(dag_id: str, missing: Collection[str]) -> str:
    """The warning's message: Airflow's text, with how to mend it."""
    return (
        f"Dag '{dag_id}' references non-existent pools: {sorted(missing)!r};"
        " its tasks in them wait in scheduled until the pools exist"
        " (tradewind pools set NAME SLOTS)"
    )


def refresh_pool_warnings(
    session: Session, now: datetime, dag_ids: Collection[str] | None = None
) -> None:
    """Record or drop the non-existent-pool warning of the given active DAGs (all by default)."""
    query = select(Dag).where(Dag.is_active.is_(True))
    warnings = select(DagWarning).where(DagWarning.warning_type == NON_EXISTENT_POOL)
    if dag_ids is not None:
        if not dag_ids:
            return
        session.flush()
        query = query.where(Dag.dag_id.in_(sorted(dag_ids)))
        warnings = warnings.where(DagWarning.dag_id.in_(sorted(dag_ids)))
    pools = set(session.scalars(select(Pool.name)))
    current = {row.dag_id: row for row in session.scalars(warnings)}
    for dag in session.scalars(query):
        try:
            definition = version_of(session, dag.content_hash).definition
        except LookupError:
            continue
        missing = missing_pools(definition, pools)
        row = current.get(dag.dag_id)
        if not missing:
            if row is not None:
                session.delete(row)
            continue
        message = pool_warning(dag.dag_id, missing)
        if row is None:
            session.add(
                DagWarning(
                    dag_id=dag.dag_id,
                    warning_type=NON_EXISTENT_POOL,
                    message=message,
                    timestamp=now,
                )
            )
        elif row.message != message:
            row.message = message
            row.timestamp = now


def list_dag_warnings(
    session: Session, dag_id: str, warning_type: str, page: PageRequest
) -> Page[DagWarning]:
    """One page of the warnings of active DAGs, by DAG id then kind."""
    active = select(Dag.dag_id).where(Dag.is_active.is_(True))
    query = select(DagWarning).where(DagWarning.dag_id.in_(active))
    if dag_id:
        if session.get(Dag, dag_id) is None:
            raise NotFound("dag", dag_id)
        query = query.where(DagWarning.dag_id == dag_id)
    if warning_type:
        query = query.where(DagWarning.warning_type == warning_type)
    return keyset_page(
        session, query, [(DagWarning.dag_id, False), (DagWarning.warning_type, False)], page
    )
