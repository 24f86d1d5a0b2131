"""encrypted variables.

Variable values are stored encrypted like connection secrets; a value written before stays
readable (``is_encrypted`` false) until the state service or ``tradewind db rotate-fernet-key``
encrypts it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("variable") as batch:
        batch.add_column(
            sa.Column("is_encrypted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema (values encrypted meanwhile stay encrypted)."""
    with op.batch_alter_table("variable") as batch:
        batch.drop_column("is_encrypted")
