"""Times of the workbench: China Standard Time for people and the wire, UTC in the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_iso(value: str) -> datetime:
    """ISO 8601 with offset, or a bare date meaning midnight China Standard Time."""
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=CST)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return moment


def iso_cst(moment: datetime | None) -> str | None:
    """2026-11-23T18:20:00+08:00, the wire contract's form."""
    if moment is None:
        return None
    return moment.astimezone(CST).isoformat(timespec="seconds")


def show(moment: datetime | None) -> str:
    """2026-11-23 18:20, for pages."""
    return "" if moment is None else moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def today_cst(now: datetime) -> date:
    return now.astimezone(CST).date()
