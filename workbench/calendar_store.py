"""The holiday days (节假日维护) in the database: the file of every county, and the days each administrator sets for
their own divisions; read them as the overrides of one division, change them, import a file."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import audit, divisions, duedates
from workbench.access import Actor
from workbench.tables import CalendarDay, CountyCalendarDay


class Overrides:
    """The holiday days as read at one moment: `for_division(code)` gives the days that hold there (the file's
    days, then those of administrators whose division covers the code, the most specific last)."""

    def __init__(self, common: dict[date, bool], scoped: list[tuple[str, date, bool]]) -> None:
        self.common = common
        self.scoped = scoped

    def for_division(self, code: str) -> dict[date, bool]:
        days = dict(self.common)
        covering = [(len(divisions.prefix(scope)), day, working) for scope, day, working in self.scoped
                    if code.startswith(divisions.prefix(scope))]
        for _, day, working in sorted(covering, key=lambda item: item[0]):
            days[day] = working
        return days


def overrides(session: Session) -> Overrides:
    common = {row.day: row.working for row in session.scalars(select(CalendarDay))}
    scoped = [(row.scope, row.day, row.working) for row in session.scalars(select(CountyCalendarDay))]
    return Overrides(common, scoped)


def for_division(calendar: Overrides | dict | None, code: str) -> dict | None:
    """The overrides of one division from what the routes hand over (an Overrides, or a plain dict in tests)."""
    return calendar.for_division(code) if isinstance(calendar, Overrides) else calendar


def set_county_day(session: Session, actor: Actor, day: date, working: bool, note: str | None,
                   now: datetime) -> list[CountyCalendarDay]:
    """An administrator's day, for each of their divisions only (audited under each)."""
    note = note.replace("\x00", "") if note else None
    rows = []
    for scope in actor.scopes:
        row = session.scalar(select(CountyCalendarDay).where(CountyCalendarDay.day == day,
                                                             CountyCalendarDay.scope == scope))
        if row is None:
            row = CountyCalendarDay(day=day, scope=scope, working=working, note=note, updated_by=actor.username,
                                    updated_at=now)
            session.add(row)
        else:
            row.working, row.note, row.updated_by, row.updated_at = working, note, actor.username, now
        audit.record(session, actor, "calendar_changed", now, target_type="calendar", target_id=day.isoformat(),
                     division_code=scope, detail={"working": working, "note": note})
        rows.append(row)
    return rows


def days_for(session: Session, actor: Actor) -> list[dict]:
    """What an administrator sees: the file's days and the days set for divisions they manage."""
    items = [{"day": r.day.isoformat(), "working": r.working, "note": r.note, "updated_by": r.updated_by, "scope": None}
             for r in session.scalars(select(CalendarDay).order_by(CalendarDay.day))]
    for r in session.scalars(select(CountyCalendarDay).order_by(CountyCalendarDay.day)):
        if any(r.scope.startswith(divisions.prefix(scope)) for scope in actor.scopes):
            items.append({"day": r.day.isoformat(), "working": r.working, "note": r.note, "updated_by": r.updated_by,
                          "scope": r.scope})
    return sorted(items, key=lambda item: (item["day"], item["scope"] or ""))


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
