"""The initial schema: studies, trials, measurements, events, executors, request answers.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("ended", sa.Float),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("sampler_state", sa.Text, nullable=False),
        sa.Column("scheduler_state", sa.Text, nullable=False),
        sa.Column("next_trial_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "trials",
        sa.Column("study_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.Integer, nullable=False),
        sa.Column("executor", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("stop_reason", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("ended", sa.Float),
        sa.Column("final", sa.Text),
        sa.Column("budget", sa.Float, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
    )
    op.create_table(
        "measurements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("trial_id", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("elapsed", sa.Float, nullable=False),
    )
    op.create_index("ix_measurements_study_id", "measurements", ["study_id"])
    op.create_table(
        "events",
        sa.Column("study_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "executors",
        sa.Column("address", sa.String(255), primary_key=True),
        sa.Column("registered", sa.Float, nullable=False),
    )
    op.create_table(
        "answers",
        sa.Column("method", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_answers_study_id", "answers", ["study_id"])


def downgrade() -> None:
    for table in ("answers", "executors", "events", "measurements", "trials", "studies"):
        op.drop_table(table)
