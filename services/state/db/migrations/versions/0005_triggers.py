"""triggers, deferral and reschedule columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "trigger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_instance_id", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("classpath", sa.Text(), nullable=False),
        sa.Column("kwargs_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=250), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_instance_id"],
            ["task_instance.id"],
            name=op.f("fk_trigger_task_instance_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger")),
        sa.UniqueConstraint("task_instance_id", name=op.f("uq_trigger_task_instance_id")),
    )
    op.create_index(op.f("ix_trigger_lease_owner"), "trigger", ["lease_owner"])
    op.create_index(op.f("ix_trigger_lease_expires_at"), "trigger", ["lease_expires_at"])
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(
            sa.Column("continues_try", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("next_method", sa.String(length=250), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("next_kwargs_json", sa.Text(), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("trigger_timeout", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("first_reschedule_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("reschedule_count", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("task_instance") as batch:
        for column in (
            "reschedule_count",
            "first_reschedule_at",
            "trigger_timeout",
            "next_kwargs_json",
            "next_method",
            "continues_try",
        ):
            batch.drop_column(column)
    op.drop_index(op.f("ix_trigger_lease_expires_at"), table_name="trigger")
    op.drop_index(op.f("ix_trigger_lease_owner"), table_name="trigger")
    op.drop_table("trigger")
