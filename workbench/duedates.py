"""Due dates in working days (工作日) on China's official calendar, with an administrators' holiday file.

Reviews finish within 30 working days, 45 when extended (有争议延期). `chinese-calendar` knows the
years the State Council has published (国务院办公厅关于部分节假日安排的通知); for a later year the
count falls back to weekends plus the days administrators add, and the due date is marked
provisional (暂定) instead of failing. Administrators' days also correct a published year.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar

REVIEW_WORKING_DAYS = 30
EXTENDED_WORKING_DAYS = 45
MAX_SPAN_DAYS = 3660  # ten years: no chain of holidays is longer
# Holidays fixed by the Gregorian date in 全国年节及纪念日放假办法 (2025): New Year's Day, Labour Day
# (1-2 May), National Day (1-3 October). Lunar holidays and make-up days of an unpublished year come
# from the administrators' holiday file.
STATUTORY_FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


@dataclass(frozen=True)
class DueDate:
    due: date
    provisional: bool  # some counted day lies in a year the State Council has not published yet

    @property
    def label(self) -> str:
        return f"{self.due.isoformat()}{'（暂定）' if self.provisional else ''}"


def published(year: int) -> bool:
    """Whether chinese-calendar holds the official arrangement of `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 30))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date, overrides: Mapping[date, bool] | None = None) -> tuple[bool, bool]:
    """(is a working day, is known from the official calendar). `overrides` maps day -> working?"""
    if overrides and day in overrides:
        return overrides[day], published(day.year)
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        return day.weekday() < 5 and (day.month, day.day) not in STATUTORY_FIXED_HOLIDAYS, False


def add_working_days(start: date, days: int, overrides: Mapping[date, bool] | None = None) -> DueDate:
    """The `days`-th working day after `start` (the start day itself is not counted)."""
    if days < 1:
        raise ValueError("days must be 1 or more")
    day = start
    counted = 0
    provisional = False
    for _ in range(MAX_SPAN_DAYS):
        day += timedelta(days=1)
        working, known = is_working_day(day, overrides)
        provisional = provisional or not known
        if working:
            counted += 1
            if counted == days:
                return DueDate(day, provisional)
    raise ValueError(f"no {days} working days within {MAX_SPAN_DAYS} days of {start}; check the holiday file")


def due_date(start: date, extended: bool = False, overrides: Mapping[date, bool] | None = None) -> DueDate:
    return add_working_days(start, EXTENDED_WORKING_DAYS if extended else REVIEW_WORKING_DAYS, overrides)


def working_days_left(today: date, due: date, overrides: Mapping[date, bool] | None = None) -> int:
    """Working days from tomorrow to `due` inclusive; negative when overdue (counted in calendar days)."""
    if due < today:
        return -(today - due).days
    left = 0
    day = today
    while day < due:
        day += timedelta(days=1)
        if is_working_day(day, overrides)[0]:
            left += 1
    return left


def is_overdue(today: date, due: date) -> bool:
    return today > due


def parse_holiday_lines(text: str) -> dict[date, bool]:
    """The holiday file: one day a line, `2027-10-01 holiday 国庆节` or `2027-09-26 workday 调休`; # comments."""
    result: dict[date, bool] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[1] not in {"holiday", "workday", "休", "班"}:
            raise ValueError(f"line {number}: expected `YYYY-MM-DD holiday|workday [note]`, got {raw!r}")
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            raise ValueError(f"line {number}: {parts[0]!r} is not a date YYYY-MM-DD") from None
        result[day] = parts[1] in {"workday", "班"}
    return result
