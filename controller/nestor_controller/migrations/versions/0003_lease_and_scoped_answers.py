"""The store's lease (one writer, fenced by epoch), and request answers keyed by study, method and trial.

Answers were keyed by (method, request id) alone, so the same id in two studies returned the first study's
answer. They only serve retries that come within minutes: the old rows are dropped, not converted.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
    )
    op.drop_index("ix_answers_study_id", table_name="answers")
    op.drop_table("answers")
    op.create_table(
        "answers",
        sa.Column("study_id", sa.String(64), primary_key=True),
        sa.Column("method", sa.String(64), primary_key=True),
        sa.Column("trial_id", sa.BigInteger, primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("answers")
    op.create_table(
        "answers",
        sa.Column("method", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_answers_study_id", "answers", ["study_id"])
    op.drop_table("leases")
