"""Review (复核): a visit record waits for the street office before its outcome is sent; reason categories.

Existing visit records were sent when recorded, so they count as approved.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from workbench.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wb_visits") as batch:
        batch.add_column(sa.Column("review_status", sa.String(16), nullable=False, server_default="approved"))
        batch.add_column(sa.Column("reviewed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reviewed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("reason_category", sa.String(32), nullable=True))
    with op.batch_alter_table("wb_decisions") as batch:
        batch.add_column(sa.Column("reason_category", sa.String(32), nullable=True))
    op.create_table(
        "wb_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("wb_tasks.id"), nullable=False, index=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("visit", sa.JSON(), nullable=False),
        sa.Column("reviewed_by", sa.String(64), nullable=False),
        sa.Column("reviewed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wb_reviews")
    with op.batch_alter_table("wb_decisions") as batch:
        batch.drop_column("reason_category")
    with op.batch_alter_table("wb_visits") as batch:
        for column in ("reason_category", "reviewed_at", "reviewed_by", "review_status"):
            batch.drop_column(column)
