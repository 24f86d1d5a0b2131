"""teams and asset access control.

The team that owns a DAG, and the AssetAccessControl of each asset a DAG version names.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("dag") as batch:
        batch.add_column(
            sa.Column("team", sa.String(length=250), server_default="", nullable=False)
        )
    with op.batch_alter_table("dag_asset_reference") as batch:
        batch.add_column(sa.Column("access_json", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("dag_asset_reference") as batch:
        batch.drop_column("access_json")
    with op.batch_alter_table("dag") as batch:
        batch.drop_column("team")
