"""asset partitions.

Partition keys on runs and asset events, and the pending partitions of partitioned consumers
with the events each received.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("dag") as batch:
        batch.add_column(
            sa.Column("partitioning_hash", sa.String(length=64), server_default="", nullable=False)
        )
    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("partition_key", sa.String(length=250), nullable=True))
        batch.add_column(sa.Column("partition_date", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("asset_event") as batch:
        batch.add_column(sa.Column("partition_key", sa.String(length=250), nullable=True))
        batch.add_column(sa.Column("partition_date", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "asset_partition",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("target_dag_id", sa.String(length=250), nullable=False),
        sa.Column("partition_key", sa.String(length=250), nullable=False),
        sa.Column("carried_partition_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_partition_target_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_partition")),
        sa.UniqueConstraint(
            "target_dag_id",
            "partition_key",
            name=op.f("uq_asset_partition_target_dag_id_partition_key"),
        ),
    )
    op.create_table(
        "asset_partition_event",
        sa.Column(
            "partition_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "asset_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("source_partition_key", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_event_id"],
            ["asset_event.id"],
            name=op.f("fk_asset_partition_event_asset_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_partition_event_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partition_id"],
            ["asset_partition.id"],
            name=op.f("fk_asset_partition_event_partition_id_asset_partition"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "partition_id", "asset_event_id", name=op.f("pk_asset_partition_event")
        ),
    )
    op.create_index(
        op.f("ix_asset_partition_event_asset_event_id"),
        "asset_partition_event",
        ["asset_event_id"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        op.f("ix_asset_partition_event_asset_event_id"), table_name="asset_partition_event"
    )
    op.drop_table("asset_partition_event")
    op.drop_table("asset_partition")
    with op.batch_alter_table("asset_event") as batch:
        batch.drop_column("partition_date")
        batch.drop_column("partition_key")
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("partition_date")
        batch.drop_column("partition_key")
    with op.batch_alter_table("dag") as batch:
        batch.drop_column("partitioning_hash")
