"""asset watchers and the asset state store.

The watchers DAGs declare, the watcher triggers to run, idempotent asset events, and the keys
of each asset's state store.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("asset_event") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=250), nullable=True))
        batch.create_unique_constraint(op.f("uq_asset_event_request_id"), ["request_id"])
    op.create_table(
        "dag_asset_watcher",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("classpath", sa.Text(), nullable=False),
        sa.Column("kwargs_json", sa.Text(), nullable=False),
        sa.Column("trigger_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_dag_asset_watcher_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_dag_asset_watcher_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_asset_watcher")),
        sa.UniqueConstraint(
            "dag_id", "asset_id", "name", name=op.f("uq_dag_asset_watcher_dag_id_asset_id_name")
        ),
    )
    op.create_index(
        op.f("ix_dag_asset_watcher_dag_id"), "dag_asset_watcher", ["dag_id"], unique=False
    )
    op.create_index(
        op.f("ix_dag_asset_watcher_trigger_hash"),
        "dag_asset_watcher",
        ["trigger_hash"],
        unique=False,
    )
    op.create_table(
        "watcher_trigger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trigger_hash", sa.String(length=64), nullable=False),
        sa.Column("classpath", sa.Text(), nullable=False),
        sa.Column("kwargs_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=250), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watcher_trigger")),
        sa.UniqueConstraint("trigger_hash", name=op.f("uq_watcher_trigger_trigger_hash")),
    )
    op.create_index(
        op.f("ix_watcher_trigger_lease_expires_at"),
        "watcher_trigger",
        ["lease_expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_watcher_trigger_lease_owner"), "watcher_trigger", ["lease_owner"], unique=False
    )
    op.create_table(
        "asset_state",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("writer_kind", sa.String(length=20), nullable=False),
        sa.Column("writer_dag_id", sa.String(length=250), nullable=False),
        sa.Column("writer_run_id", sa.String(length=250), nullable=False),
        sa.Column("writer_task_id", sa.String(length=250), nullable=False),
        sa.Column("writer_map_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_state_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "key", name=op.f("pk_asset_state")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("asset_state")
    op.drop_index(op.f("ix_watcher_trigger_lease_owner"), table_name="watcher_trigger")
    op.drop_index(op.f("ix_watcher_trigger_lease_expires_at"), table_name="watcher_trigger")
    op.drop_table("watcher_trigger")
    op.drop_index(op.f("ix_dag_asset_watcher_trigger_hash"), table_name="dag_asset_watcher")
    op.drop_index(op.f("ix_dag_asset_watcher_dag_id"), table_name="dag_asset_watcher")
    op.drop_table("dag_asset_watcher")
    with op.batch_alter_table("asset_event") as batch:
        batch.drop_constraint(op.f("uq_asset_event_request_id"), type_="unique")
        batch.drop_column("request_id")
