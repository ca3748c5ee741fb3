"""The workbench's first schema: users, tokens, alerts, timeline, decisions, tasks, visits, outbox, audit, calendar.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from workbench.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wb_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_wb_users_staff_id", "wb_users", ["staff_id"])
    op.create_table(
        "wb_api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("wb_users.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_wb_api_tokens_user_id", "wb_api_tokens", ["user_id"])
    op.create_table(
        "wb_alerts",
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(128), nullable=False, unique=True),
        sa.Column("household_id", sa.String(128), nullable=False),
        sa.Column("division_code", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("hardship_score", sa.Float(), nullable=False),
        sa.Column("removal_score", sa.Float(), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("recusal_staff_ids", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=False),
        sa.Column("emitted_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merged_into", sa.String(128), nullable=True),
    )
    op.create_index("ix_wb_alerts_household_id", "wb_alerts", ["household_id"])
    op.create_index("ix_wb_alerts_division_code", "wb_alerts", ["division_code"])
    op.create_index("ix_wb_alerts_queue", "wb_alerts", ["status", "level", "hardship_score"])
    op.create_table(
        "wb_timeline",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.String(128), sa.ForeignKey("wb_alerts.alert_id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
    )
    op.create_index("ix_wb_timeline_alert_id", "wb_timeline", ["alert_id"])
    op.create_table(
        "wb_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.String(128), sa.ForeignKey("wb_alerts.alert_id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.String(128), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_wb_decisions_alert_id", "wb_decisions", ["alert_id"])
    op.create_table(
        "wb_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.String(128), sa.ForeignKey("wb_alerts.alert_id"), nullable=False, unique=True),
        sa.Column("division_code", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_wb_tasks_division_code", "wb_tasks", ["division_code"])
    op.create_index("ix_wb_tasks_assignee", "wb_tasks", ["assignee"])
    op.create_table(
        "wb_visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("wb_tasks.id"), nullable=False, unique=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("new_coverage", sa.String(16), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("bank_card", sa.String(32), nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("outcome_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "wb_outbox",
        sa.Column("outcome_id", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(128), nullable=False),
        sa.Column("household_id", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_wb_outbox_alert_id", "wb_outbox", ["alert_id"])
    op.create_index("ix_wb_outbox_sent_at", "wb_outbox", ["sent_at"])
    op.create_table(
        "wb_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=True),
        sa.Column("target_id", sa.String(128), nullable=True),
        sa.Column("division_code", sa.String(12), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
    )
    op.create_index("ix_wb_audit_at", "wb_audit", ["at"])
    op.create_index("ix_wb_audit_division_code", "wb_audit", ["division_code"])
    op.create_table(
        "wb_calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(128), nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    # The audit log is append-only: the database itself refuses UPDATE and DELETE.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER wb_audit_no_{verb.lower()} BEFORE {verb} ON wb_audit "
                "BEGIN SELECT RAISE(ABORT, 'wb_audit is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION wb_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'wb_audit is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER wb_audit_append_only BEFORE UPDATE OR DELETE ON wb_audit "
            "FOR EACH ROW EXECUTE FUNCTION wb_audit_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS wb_audit_append_only ON wb_audit")
        op.execute("DROP FUNCTION IF EXISTS wb_audit_append_only()")
    for table in ("wb_calendar_days", "wb_audit", "wb_outbox", "wb_visits", "wb_tasks", "wb_decisions",
                  "wb_timeline", "wb_alerts", "wb_api_tokens", "wb_users"):
        op.drop_table(table)
