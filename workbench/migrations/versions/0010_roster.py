"""The roster in the workbench (户籍名册): every distinct version of a household's registry record, and its members.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from workbench.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wb_roster_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("household_id", sa.String(128), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("division_code", sa.String(12), nullable=False),
        sa.Column("coverage", sa.String(16), nullable=False),
        sa.Column("monthly_income_yuan", sa.Float(), nullable=False),
        sa.Column("dibao_standard_yuan", sa.Float(), nullable=True),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(200), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_wb_roster_versions_household_id", "wb_roster_versions", ["household_id"])
    op.create_index("ix_wb_roster_versions_division_code", "wb_roster_versions", ["division_code"])
    op.create_index("ux_wb_roster_versions_household_hash", "wb_roster_versions", ["household_id", "content_hash"],
                    unique=True)
    op.create_table(
        "wb_roster_persons",
        sa.Column("person_id", sa.String(18), primary_key=True),
        sa.Column("household_id", sa.String(128), primary_key=True),
    )
    op.create_index("ix_wb_roster_persons_household_id", "wb_roster_persons", ["household_id"])


def downgrade() -> None:
    op.drop_table("wb_roster_persons")
    op.drop_table("wb_roster_versions")
