"""The append-only audit log (审计日志): write one entry per reveal, decision, export, sign-in or refused access, each
chained to the one before by a SHA-256 hash; read it back; verify the chain (`hardship audit verify`).

A row's hash covers the previous row's hash and the row's own fields, so changing, removing or replacing any
row breaks the chain from there on. The database refuses UPDATE, DELETE, TRUNCATE and REPLACE of the table
(triggers), and on PostgreSQL the application's role may only INSERT and SELECT it (docs/security.md).
Writers are serialised by updating one head row first, so two processes never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from workbench import divisions
from workbench.access import Actor
from workbench.tables import AuditEntry, AuditHead

GENESIS = "0" * 64  # the "previous hash" of the first row
CHAINED_FIELDS = ("at", "actor", "role", "action", "target_type", "target_id", "division_code", "detail", "client")


def _canonical_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_digest(previous: str, values: dict) -> str:
    """SHA-256 (hex) of the previous row's hash and this row's fields, in a canonical JSON form."""
    fields = [previous] + [_canonical_time(values.get(name)) if name == "at" else values.get(name)
                           for name in CHAINED_FIELDS]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def record(session: Session, actor: Actor | str, action: str, now: datetime, *, target_type: str | None = None,
           target_id: str | None = None, division_code: str | None = None, detail: dict | None = None,
           client: str | None = None) -> AuditEntry:
    """Add an entry in the caller's transaction (so a decision and its audit line commit together)."""
    values = {
        "at": now,
        "actor": (actor.username if isinstance(actor, Actor) else actor)[:64],
        "role": actor.role if isinstance(actor, Actor) else None,
        "action": action,
        "target_type": target_type,
        "target_id": target_id[:128] if target_id else target_id,
        "division_code": division_code,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        "client": client[:64] if client else client,
    }
    session.flush()  # earlier entries of this transaction first: they are the chain's previous rows
    # the head row is locked until commit (a row lock on PostgreSQL, the write lock on SQLite): writers queue here
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    previous = session.scalar(select(AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)) or GENESIS
    entry = AuditEntry(**values, prev_hash=previous, row_hash=row_digest(previous, values))
    session.add(entry)
    session.flush()
    return entry


def record_export(session: Session, actor: Actor, now: datetime, target_type: str, rows: list[dict],
                  client: str | None = None, action: str = "export") -> None:
    """An export is audited under every division of the exporting user, with the rows of that division, so the
    auditors of each county see it (a multi-county user's export was audited under the first county only)."""
    for scope in actor.scopes:
        start = divisions.prefix(scope)
        mine = sum(1 for row in rows if str(row.get("division_code") or "").startswith(start))
        record(session, actor, action, now, target_type=target_type, division_code=scope,
               detail={"rows": mine, "rows_in_file": len(rows)}, client=client)


def entries(session: Session, reader: Actor, *, action: str | None = None, actor: str | None = None,
            limit: int = 500, offset: int = 0, since: datetime | None = None, until: datetime | None = None) -> list[AuditEntry]:
    """What an auditor may read: entries about their divisions, and sign-ins of users (no division)."""
    query = _readable(reader, action, actor, since, until)
    query = query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def count(session: Session, reader: Actor, *, action: str | None = None, actor: str | None = None,
          since: datetime | None = None, until: datetime | None = None) -> int:
    """How many entries `entries` would page through (for the audit page's pager)."""
    query = _readable(reader, action, actor, since, until)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _readable(reader: Actor, action: str | None, actor: str | None, since: datetime | None, until: datetime | None):  # noqa: ANN202
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    clauses = [AuditEntry.division_code.like(divisions.prefix(scope) + "%") for scope in reader.scopes]
    clauses.append(AuditEntry.division_code.is_(None))
    query = query.where(or_(*clauses))
    if action:
        query = query.where(AuditEntry.action == action.replace("\x00", ""))
    if actor:
        query = query.where(AuditEntry.actor == actor.replace("\x00", ""))
    return query


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: rows checked, the first broken row (None when whole) and why, the head hash."""

    rows: int
    broken_id: int | None
    problem: str | None
    head: str
    head_found: bool | None = None  # the hash an auditor noted earlier is still in the chain (None: not asked)

    @property
    def ok(self) -> bool:
        return self.broken_id is None and self.head_found is not False


def verify(session: Session, expect_head: str | None = None, batch: int = 5000) -> Verdict:
    """Walk the whole log in id order and check every link and every row hash."""
    previous, rows, last_id, found = GENESIS, 0, 0, None if expect_head is None else False
    while True:
        chunk = list(session.scalars(select(AuditEntry).where(AuditEntry.id > last_id)
                                     .order_by(AuditEntry.id).limit(batch)))
        if not chunk:
            break
        for entry in chunk:
            rows += 1
            last_id = entry.id
            if entry.prev_hash != previous:
                return Verdict(rows, entry.id, "the row does not follow the one before it (a row was removed, "
                               "inserted or replaced)", previous)
            values = {name: getattr(entry, name) for name in CHAINED_FIELDS}
            if entry.row_hash != row_digest(previous, values):
                return Verdict(rows, entry.id, "the row's content does not match its hash (it was changed)", previous)
            previous = entry.row_hash
            if expect_head is not None and entry.row_hash == expect_head:
                found = True
    return Verdict(rows, None, None, previous, found)
