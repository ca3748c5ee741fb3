"""Holiday days per county (节假日按区县维护): one administrator's days no longer move every county's due dates.

Days set by administrators (page, API) are kept with the division code they were set for; the holiday file of
`hardship serve --holidays` stays the calendar of every county. Days administrators set before this migration
(wb_calendar_days rows not from a file import) stay where they are: they applied everywhere then.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from workbench.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wb_calendar_scoped",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(12), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(128), nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_wb_calendar_scoped_scope", "wb_calendar_scoped", ["scope"])
    op.create_index("ux_wb_calendar_scoped_day_scope", "wb_calendar_scoped", ["day", "scope"], unique=True)


def downgrade() -> None:
    op.drop_table("wb_calendar_scoped")
