"""map index: task instances of mapped tasks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 05:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAP_INDEX_TABLES = ("task_instance_try", "xcom", "event")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("map_index", sa.Integer(), server_default="-1", nullable=False))
        batch.add_column(sa.Column("output_length", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("rendered_map_index", sa.Text(), server_default="", nullable=False)
        )
        batch.drop_constraint("uq_task_instance_dag_run_id_task_id", type_="unique")
        batch.create_unique_constraint(
            "uq_task_instance_dag_run_id_task_id_map_index", ["dag_run_id", "task_id", "map_index"]
        )
        batch.drop_index("ix_task_instance_dag_id_run_id_task_id")
        batch.create_index(
            "ix_task_instance_dag_id_run_id_task_id_map_index",
            ["dag_id", "run_id", "task_id", "map_index"],
        )
    for table in _MAP_INDEX_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("map_index", sa.Integer(), server_default="-1", nullable=False)
            )


def downgrade() -> None:
    """Downgrade schema."""
    for table in _MAP_INDEX_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("map_index")
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_index("ix_task_instance_dag_id_run_id_task_id_map_index")
        batch.create_index(
            "ix_task_instance_dag_id_run_id_task_id", ["dag_id", "run_id", "task_id"]
        )
        batch.drop_constraint("uq_task_instance_dag_run_id_task_id_map_index", type_="unique")
        batch.create_unique_constraint(
            "uq_task_instance_dag_run_id_task_id", ["dag_run_id", "task_id"]
        )
        batch.drop_column("rendered_map_index")
        batch.drop_column("output_length")
        batch.drop_column("map_index")
