"""The administrators' holiday file (节假日维护) in the database: read it as overrides, change it, import a file."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import audit, duedates
from workbench.access import Actor
from workbench.tables import CalendarDay


def overrides(session: Session) -> dict[date, bool]:
    return {row.day: row.working for row in session.scalars(select(CalendarDay))}


def set_day(session: Session, actor: Actor | str, day: date, working: bool, note: str | None, now: datetime) -> CalendarDay:
    note = note.replace("\x00", "") if note else None
    row = session.get(CalendarDay, day)
    who = actor.username if isinstance(actor, Actor) else actor
    if row is None:
        row = CalendarDay(day=day, working=working, note=note, updated_by=who, updated_at=now)
        session.add(row)
    else:
        row.working, row.note, row.updated_by, row.updated_at = working, note, who, now
    audit.record(session, actor, "calendar_changed", now, target_type="calendar", target_id=day.isoformat(),
                 detail={"working": working, "note": note})
    return row


def import_file(session: Session, text: str, now: datetime, actor: str = "system") -> int:
    """Load a holiday file (`YYYY-MM-DD holiday|workday [note]` per line); returns the number of days."""
    days = duedates.parse_holiday_lines(text)
    for day, working in days.items():
        set_day(session, actor, day, working, "节假日文件导入", now)
    return len(days)
