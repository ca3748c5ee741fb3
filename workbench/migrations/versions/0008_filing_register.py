"""The filing register (备案台账): staff and cadres' close-relative filings with their periodic check.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from workbench.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wb_filings",
        sa.Column("staff_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("division_code", sa.String(12), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("gender", sa.String(8), nullable=True),
        sa.Column("unit", sa.String(128), nullable=True),
        sa.Column("position", sa.String(64), nullable=True),
        sa.Column("duties", sa.String(256), nullable=True),
        sa.Column("appointed_on", sa.Date(), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=True),
        sa.Column("relatives", sa.JSON(), nullable=False),
        sa.Column("last_checked_on", sa.Date(), nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wb_filings")
