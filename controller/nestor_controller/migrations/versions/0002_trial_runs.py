"""Trials keep the scheduler's latest decision and their ended runs (multi-fidelity promotions).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("decision", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("runs", sa.Text, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("runs")
        batch.drop_column("decision")
