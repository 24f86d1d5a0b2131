"""task state store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "task_state",
        sa.Column("task_instance_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_instance_id"],
            ["task_instance.id"],
            name=op.f("fk_task_state_task_instance_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_instance_id", "key", name=op.f("pk_task_state")),
    )
    op.create_index("ix_task_state_expires_at", "task_state", ["expires_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_task_state_expires_at", table_name="task_state")
    op.drop_table("task_state")
