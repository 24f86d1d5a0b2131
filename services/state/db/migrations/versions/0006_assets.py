"""assets: assets, aliases, events, the queue of asset-scheduled DAGs, references.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("dag") as batch:
        batch.add_column(
            sa.Column("has_asset_schedule", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "asset",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("uri", sa.String(length=1500), nullable=False),
        sa.Column("group", sa.String(length=1500), nullable=False),
        sa.Column("extra_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("name", "uri", name=op.f("uq_asset_name_uri")),
    )
    op.create_index("ix_asset_uri", "asset", ["uri"], unique=False)
    op.create_table(
        "asset_alias",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("group", sa.String(length=1500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_alias")),
        sa.UniqueConstraint("name", name=op.f("uq_asset_alias_name")),
    )
    op.create_table(
        "asset_alias_asset",
        sa.Column("alias_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alias_id"],
            ["asset_alias.id"],
            name=op.f("fk_asset_alias_asset_alias_id_asset_alias"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_alias_asset_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias_id", "asset_id", name=op.f("pk_asset_alias_asset")),
    )
    op.create_index(
        op.f("ix_asset_alias_asset_asset_id"), "asset_alias_asset", ["asset_id"], unique=False
    )
    op.create_table(
        "asset_dag_run_queue",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("target_dag_id", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_dag_run_queue_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_dag_run_queue_target_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "target_dag_id", name=op.f("pk_asset_dag_run_queue")),
    )
    op.create_index(
        op.f("ix_asset_dag_run_queue_target_dag_id"),
        "asset_dag_run_queue",
        ["target_dag_id"],
        unique=False,
    )
    op.create_table(
        "asset_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("extra_json", sa.Text(), nullable=False),
        sa.Column("source_dag_id", sa.String(length=250), nullable=False),
        sa.Column("source_task_id", sa.String(length=250), nullable=False),
        sa.Column("source_run_id", sa.String(length=250), nullable=False),
        sa.Column("source_map_index", sa.Integer(), nullable=False),
        sa.Column("source_aliases_json", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_event_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_event")),
    )
    op.create_index(
        "ix_asset_event_asset_id_timestamp", "asset_event", ["asset_id", "timestamp"], unique=False
    )
    op.create_index(
        op.f("ix_asset_event_source_dag_id"), "asset_event", ["source_dag_id"], unique=False
    )
    op.create_index(op.f("ix_asset_event_timestamp"), "asset_event", ["timestamp"], unique=False)
    op.create_table(
        "dag_asset_reference",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("asset_name", sa.String(length=1500), nullable=False),
        sa.Column("asset_uri", sa.String(length=1500), nullable=False),
        sa.Column("alias_name", sa.String(length=1500), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_dag_asset_reference_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_asset_reference")),
    )
    op.create_index(
        op.f("ix_dag_asset_reference_dag_id"), "dag_asset_reference", ["dag_id"], unique=False
    )
    op.create_index(
        "ix_dag_asset_reference_role_alias_name",
        "dag_asset_reference",
        ["role", "alias_name"],
        unique=False,
    )
    op.create_index(
        "ix_dag_asset_reference_role_asset_name",
        "dag_asset_reference",
        ["role", "asset_name"],
        unique=False,
    )
    op.create_index(
        "ix_dag_asset_reference_role_asset_uri",
        "dag_asset_reference",
        ["role", "asset_uri"],
        unique=False,
    )
    op.create_table(
        "asset_alias_event",
        sa.Column("alias_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["alias_id"],
            ["asset_alias.id"],
            name=op.f("fk_asset_alias_event_alias_id_asset_alias"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["asset_event.id"],
            name=op.f("fk_asset_alias_event_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias_id", "event_id", name=op.f("pk_asset_alias_event")),
    )
    op.create_index(
        op.f("ix_asset_alias_event_event_id"), "asset_alias_event", ["event_id"], unique=False
    )
    op.create_table(
        "dag_run_asset_event",
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        sa.Column(
            "asset_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["asset_event_id"],
            ["asset_event.id"],
            name=op.f("fk_dag_run_asset_event_asset_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_dag_run_asset_event_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "dag_run_id", "asset_event_id", name=op.f("pk_dag_run_asset_event")
        ),
    )
    op.create_index(
        op.f("ix_dag_run_asset_event_asset_event_id"),
        "dag_run_asset_event",
        ["asset_event_id"],
        unique=False,
    )

    op.create_table(
        "asset_dag_run_queue_event",
        sa.Column("target_dag_id", sa.String(length=250), nullable=False),
        sa.Column(
            "asset_event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_event_id"],
            ["asset_event.id"],
            name=op.f("fk_asset_dag_run_queue_event_asset_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_dag_run_queue_event_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_dag_run_queue_event_target_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "target_dag_id", "asset_event_id", name=op.f("pk_asset_dag_run_queue_event")
        ),
    )
    op.create_index(
        op.f("ix_asset_dag_run_queue_event_asset_event_id"),
        "asset_dag_run_queue_event",
        ["asset_event_id"],
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        op.f("ix_asset_dag_run_queue_event_asset_event_id"),
        table_name="asset_dag_run_queue_event",
    )
    op.drop_table("asset_dag_run_queue_event")
    with op.batch_alter_table("dag") as batch:
        batch.drop_column("has_asset_schedule")
    op.drop_index(op.f("ix_dag_run_asset_event_asset_event_id"), table_name="dag_run_asset_event")
    op.drop_table("dag_run_asset_event")
    op.drop_index(op.f("ix_asset_alias_event_event_id"), table_name="asset_alias_event")
    op.drop_table("asset_alias_event")
    op.drop_index("ix_dag_asset_reference_role_asset_uri", table_name="dag_asset_reference")
    op.drop_index("ix_dag_asset_reference_role_asset_name", table_name="dag_asset_reference")
    op.drop_index("ix_dag_asset_reference_role_alias_name", table_name="dag_asset_reference")
    op.drop_index(op.f("ix_dag_asset_reference_dag_id"), table_name="dag_asset_reference")
    op.drop_table("dag_asset_reference")
    op.drop_index(op.f("ix_asset_event_timestamp"), table_name="asset_event")
    op.drop_index(op.f("ix_asset_event_source_dag_id"), table_name="asset_event")
    op.drop_index("ix_asset_event_asset_id_timestamp", table_name="asset_event")
    op.drop_table("asset_event")
    op.drop_index(op.f("ix_asset_dag_run_queue_target_dag_id"), table_name="asset_dag_run_queue")
    op.drop_table("asset_dag_run_queue")
    op.drop_index(op.f("ix_asset_alias_asset_asset_id"), table_name="asset_alias_asset")
    op.drop_table("asset_alias_asset")
    op.drop_table("asset_alias")
    op.drop_index("ix_asset_uri", table_name="asset")
    op.drop_table("asset")
