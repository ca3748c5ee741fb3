"""Page sessions that sign-out and a password change end everywhere: wb_users.session_version.

The session cookie is signed, not stored: without a version to compare, a copied cookie stayed valid after
sign-out or a password change until it expired (8 hours).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wb_users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("wb_users") as batch:
        batch.drop_column("session_version")
