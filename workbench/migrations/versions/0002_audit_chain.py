"""The audit log chained by hashes (审计日志哈希链), a head row that serialises its writers, and no rewrite by REPLACE.

Every wb_audit row gets prev_hash and row_hash (SHA-256 over the previous hash and the row's fields; rows
already there are chained in id order). SQLite refuses an INSERT that reuses an id (INSERT OR REPLACE would
otherwise rewrite a row without firing the DELETE trigger); PostgreSQL refuses TRUNCATE by trigger too. The
privileges that make the log append-only for the application (`hardship audit grant`) are in docs/security.md.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# The chain as this revision defines it (kept here, so that later code cannot change what the migration wrote;
# workbench/audit.py computes the same and a test checks that the two agree).
GENESIS = "0" * 64
CHAINED_FIELDS = ("at", "actor", "role", "action", "target_type", "target_id", "division_code", "detail", "client")


def row_digest(previous: str, values: dict) -> str:
    def time_text(value):  # noqa: ANN001, ANN202
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    fields = [previous] + [time_text(values.get(name)) if name == "at" else values.get(name) for name in CHAINED_FIELDS]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    with op.batch_alter_table("wb_audit") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    op.create_table("wb_audit_head", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("seq", sa.Integer(), nullable=False))
    op.execute("INSERT INTO wb_audit_head (id, seq) VALUES (1, 0)")
    # chain the rows already there (the append-only triggers step aside for this one migration)
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS wb_audit_no_update")
    else:
        op.execute("ALTER TABLE wb_audit DISABLE TRIGGER wb_audit_append_only")
    from workbench.tables import UTCDateTime

    audit = sa.table("wb_audit", sa.column("at", UTCDateTime()), *(sa.column(name) for name in (
        "id", "actor", "role", "action", "target_type", "target_id", "division_code", "detail", "client",
        "prev_hash", "row_hash")))
    previous = GENESIS
    rows = bind.execute(sa.select(audit).order_by(audit.c.id)).mappings().all()
    for row in rows:
        digest = row_digest(previous, dict(row))
        bind.execute(audit.update().where(audit.c.id == row["id"]).values(prev_hash=previous, row_hash=digest))
        previous = digest
    op.execute("UPDATE wb_audit_head SET seq = %d WHERE id = 1" % len(rows))
    if dialect == "sqlite":
        op.execute("CREATE TRIGGER wb_audit_no_update BEFORE UPDATE ON wb_audit "
                   "BEGIN SELECT RAISE(ABORT, 'wb_audit is append-only'); END")
        op.execute("CREATE TRIGGER wb_audit_no_replace BEFORE INSERT ON wb_audit "
                   "WHEN EXISTS (SELECT 1 FROM wb_audit WHERE id = NEW.id) "
                   "BEGIN SELECT RAISE(ABORT, 'wb_audit is append-only: an entry is never replaced'); END")
    else:
        op.execute("ALTER TABLE wb_audit ENABLE TRIGGER wb_audit_append_only")
        op.execute("CREATE TRIGGER wb_audit_no_truncate BEFORE TRUNCATE ON wb_audit "
                   "FOR EACH STATEMENT EXECUTE FUNCTION wb_audit_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS wb_audit_no_replace")
    else:
        op.execute("DROP TRIGGER IF EXISTS wb_audit_no_truncate ON wb_audit")
    op.drop_table("wb_audit_head")
    with op.batch_alter_table("wb_audit") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
