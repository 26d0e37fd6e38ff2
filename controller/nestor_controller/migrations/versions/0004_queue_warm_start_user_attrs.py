"""Queued parameter sets and warm starts of studies; a trial's origin and user attributes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queued",
        sa.Column("study_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("user_attrs", sa.Text, nullable=False),
    )
    op.create_table(
        "warm_starts",
        sa.Column("study_id", sa.String(64), primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("origin", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("user_attrs", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("user_attrs")
        batch.drop_column("origin")
    op.drop_table("warm_starts")
    op.drop_table("queued")
