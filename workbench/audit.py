"""The append-only audit log (审计日志): write one entry per reveal, decision, export or sign-in; read it back."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workbench import divisions
from workbench.access import Actor
from workbench.tables import AuditEntry


def record(session: Session, actor: Actor | str, action: str, now: datetime, *, target_type: str | None = None,
           target_id: str | None = None, division_code: str | None = None, detail: dict | None = None,
           client: str | None = None) -> AuditEntry:
    """Add an entry in the caller's transaction (so a decision and its audit line commit together)."""
    entry = AuditEntry(
        at=now,
        actor=actor.username if isinstance(actor, Actor) else actor,
        role=actor.role if isinstance(actor, Actor) else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        division_code=division_code,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        client=client,
    )
    session.add(entry)
    return entry


def entries(session: Session, reader: Actor, *, action: str | None = None, actor: str | None = None,
            limit: int = 500, offset: int = 0) -> list[AuditEntry]:
    """What an auditor may read: entries about their divisions, and sign-ins of users (no division)."""
    query = select(AuditEntry)
    clauses = [AuditEntry.division_code.like(divisions.prefix(scope) + "%") for scope in reader.scopes]
    clauses.append(AuditEntry.division_code.is_(None))
    query = query.where(or_(*clauses))
    if action:
        query = query.where(AuditEntry.action == action.replace("\x00", ""))
    if actor:
        query = query.where(AuditEntry.actor == actor.replace("\x00", ""))
    query = query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))
