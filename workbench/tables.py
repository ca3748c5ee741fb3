"""The workbench's database tables (SQLAlchemy 2 ORM); Alembic migrations in workbench/migrations create them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC (naive in SQLite, timestamptz in PostgreSQL), read back aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """A person who signs in: role and division scopes (用户、角色、管辖区划)."""

    __tablename__ = "wb_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list] = mapped_column(JSON)  # 12-digit division codes
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # raised by sign-out and by a password change: every page session signed with an older one is void
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    # set when an administrator created the account (and so knows its password): nothing but a password change
    # until the person sets their own, so an administrator cannot use the account to read or reveal
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A bearer token of the JSON API; only its SHA-256 is stored."""

    __tablename__ = "wb_api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("wb_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """An alert from hardship.alerts, upserted by alert_id; `status` is the workbench's own."""

    __tablename__ = "wb_alerts"
    # 预警序号: the opaque number in URLs and lists (a wire alert_id may hold a resident ID and slashes)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(128), unique=True)
    household_id: Mapped[str] = mapped_column(String(128), index=True)
    division_code: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    hardship_score: Mapped[float] = mapped_column(Float)
    removal_score: Mapped[float] = mapped_column(Float)
    dimensions: Mapped[dict] = mapped_column(JSON)
    reasons: Mapped[list] = mapped_column(JSON)
    recusal_staff_ids: Mapped[list] = mapped_column(JSON)
    policy_version: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    # the learned model (scoring/model): its estimate that a visit confirms the alert, its reasons in Chinese,
    # and the household's features when raised (the next training set); null without a model
    model_score: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    model_reasons: Mapped[list | None] = mapped_column(JSON, nullable=True, default=None)
    model_features: Mapped[dict | None] = mapped_column(JSON, nullable=True, default=None)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    emitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    versions: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="new")
    merged_into: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (Index("ix_wb_alerts_queue", "status", "level", "hardship_score"),)


class TimelineEntry(Base):
    """One line of an alert's timeline: a received version, a decision, a task, a visit."""

    __tablename__ = "wb_timeline"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("wb_alerts.alert_id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    what: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Decision(Base):
    """A triage decision (研判): confirmed, dismissed (with the written reason), merged."""

    __tablename__ = "wb_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("wb_alerts.alert_id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    merged_into: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason_category: Mapped[str | None] = mapped_column(String(32), nullable=True)  # labels.REASON_CATEGORIES


class Task(Base):
    """A visit task (核查任务) created when an alert is confirmed."""

    __tablename__ = "wb_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("wb_alerts.alert_id"), unique=True)
    division_code: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Visit(Base):
    """The officer's record of the visit (入户调查、邻里访问、信函索证) and its finding."""

    __tablename__ = "wb_visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("wb_tasks.id"), unique=True)
    method: Mapped[str] = mapped_column(String(32))
    finding: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(16))  # confirmed / refuted
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_coverage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bank_card: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome_id: Mapped[str] = mapped_column(String(64))
    # 复核: the street office reviews the finding before its outcome is sent (pending -> approved; a send-back
    # moves the record to wb_reviews and the officer records the visit again)
    review_status: Mapped[str] = mapped_column(String(16), default="approved")
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason_category: Mapped[str | None] = mapped_column(String(32), nullable=True)  # labels.REASON_CATEGORIES


class OutboxOutcome(Base):
    """An outcome waiting for (or sent to) hardship.outcomes; written in the decision's transaction."""

    __tablename__ = "wb_outbox"
    outcome_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(128), index=True)
    household_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class AuditEntry(Base):
    """The append-only audit log (审计日志): every reveal, decision, export and sign-in."""

    __tablename__ = "wb_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    division_code: Mapped[str | None] = mapped_column(String(12), nullable=True, index=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the hash chain (哈希链): each row names the hash of the row before it and its own, so a rewrite shows
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditHead(Base):
    """One row whose update serialises audit writers, so the chain never forks (no audit data in it)."""

    __tablename__ = "wb_audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class CountyCalendarDay(Base):
    """A day an administrator set for their divisions only (one county's 调休 is not another's)."""

    __tablename__ = "wb_calendar_scoped"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(12), index=True)  # a 12-digit division code, covering its prefix
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ux_wb_calendar_scoped_day_scope", "day", "scope", unique=True),)


class CalendarDay(Base):
    """A day of the holiday file for every county (`hardship serve --holidays`): a holiday (休) or a make-up
    working day (班). Administrators' own days are in CountyCalendarDay."""

    __tablename__ = "wb_calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DivisionName(Base):
    """The name of a street/township or community/village (区划名称): loaded from a file, edited by administrators."""

    __tablename__ = "wb_divisions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)  # 12 digits, padded (420106002000 for a street)
    name: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Review(Base):
    """A street office's review (复核) of a visit record: approved, or sent back with the reason (the record as it
    was is kept here, since the officer records the visit again)."""

    __tablename__ = "wb_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("wb_tasks.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # approved / returned
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    visit: Mapped[dict] = mapped_column(JSON)  # the reviewed record (method, finding, result, reason, ...)
    reviewed_by: Mapped[str] = mapped_column(String(64))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Filing(Base):
    """A staff member's or cadre's close-relative filing (近亲属备案) in the register (备案台账), with its periodic check."""

    __tablename__ = "wb_filings"
    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))  # as on the wire: the filing roles of models.validation
    division_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str | None] = mapped_column(String(8), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(128), nullable=True)
    position: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duties: Mapped[str | None] = mapped_column(String(256), nullable=True)
    appointed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    filed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    relatives: Mapped[list] = mapped_column(JSON)  # [{person_id, relation, household_id, support}]
    last_checked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RosterVersion(Base):
    """One distinct version of a household's roster record (户籍名册) read from hardship.registry: every change is
    kept, so the coverage history is the sequence of versions; a redelivered record (same content) adds nothing."""

    __tablename__ = "wb_roster_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[str] = mapped_column(String(128), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the validated record: the idempotence key
    division_code: Mapped[str] = mapped_column(String(12), index=True)
    coverage: Mapped[str] = mapped_column(String(16))
    monthly_income_yuan: Mapped[float] = mapped_column(Float)
    dibao_standard_yuan: Mapped[float | None] = mapped_column(Float, nullable=True)
    members: Mapped[list] = mapped_column(JSON)  # [{person_id, birth_date, relation, monthly_income_yuan?}]
    address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the record's own time
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the workbench first received this version

    __table_args__ = (Index("ux_wb_roster_versions_household_hash", "household_id", "content_hash", unique=True),)


class RosterPerson(Base):
    """A member of a household's current roster version: the search by resident ID finds the household."""

    __tablename__ = "wb_roster_persons"
    person_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
