"""The learned model's fields of an alert: model_score, model_reasons, model_features (issue 11).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wb_alerts") as batch:
        batch.add_column(sa.Column("model_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("model_reasons", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("model_features", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wb_alerts") as batch:
        batch.drop_column("model_features")
        batch.drop_column("model_reasons")
        batch.drop_column("model_score")
