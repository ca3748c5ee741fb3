"""Cell converters of the mapping layer: money, times, dates, resident IDs, yes/no and coded values.

Departments export money as "35,000.00" or "￥35000元", dates as 2026/11/01, 20261101 or
2026年11月1日, and Excel hands over datetime objects. These helpers turn such cells into what the
wire contract wants (numbers of yuan, ISO 8601 with +08:00 or a bare date), or raise `Rejected`
with a reason code, so that a bad cell becomes a dead letter with its row, never a crash.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta, timezone

from models.validation import Rejected

CST = timezone(timedelta(hours=8))

_MONEY_NOISE = str.maketrans({",": None, "，": None, "¥": None, "￥": None, "元": None, " ": None, "\u3000": None})
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?|(?P<m8>\d{2})(?P<d8>\d{2}))"
    r"(?:[T ]+(?P<H>\d{1,2})[:：时](?P<M>\d{2})(?:[:：分](?P<S>\d{2})(?:\.\d+)?秒?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_TRUE = {"是", "有", "y", "yes", "true", "1", "√", "t"}
_FALSE = {"否", "无", "n", "no", "false", "0", "×", "f"}


def clean_text(value: object) -> str | None:
    """A cell as stripped text (NFKC: full-width digits and letters become ASCII); empty -> None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def to_money(value: object, field: str, label: str | None = None) -> float | int | None:
    """35,000.00 / ￥35000元 / 3.5e4 -> a number of yuan; empty -> None; anything else is rejected."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Rejected("BAD_MONEY", f"{label or field} must be a number of yuan, not {value!r}", field)
    if isinstance(value, int | float):
        number = value
    else:
        text = clean_text(value)
        if text is None:
            return None
        text = text.translate(_MONEY_NOISE)
        try:
            number = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            raise Rejected(
                "BAD_MONEY", f"{label or field} {str(value)[:40]!r} is not a number of yuan (write 35000 or 35,000.00)", field
            ) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise Rejected("BAD_MONEY", f"{label or field} must be a finite number of yuan", field)
    return number


def _parse_datetime_text(text: str, field: str, label: str | None) -> tuple[date, time | None, str | None]:
    match = _DATE_RE.match(text)
    if match is None:
        raise Rejected(
            "BAD_TIMESTAMP",
            f"{label or field} {text[:40]!r} is not a date or time (write 2026-11-01, 2026/11/01, 20261101 "
            f"or 2026-11-01 10:00:00)",
            field,
        )
    parts = match.groupdict()
    try:
        day = date(int(parts["y"]), int(parts["m"] or parts["m8"]), int(parts["d"] or parts["d8"]))
        moment = (
            time(int(parts["H"]), int(parts["M"]), int(parts["S"] or 0)) if parts["H"] is not None else None
        )
    except ValueError:
        raise Rejected("BAD_TIMESTAMP", f"{label or field} {text[:40]!r} is not a real date or time", field) from None
    return day, moment, parts["tz"]


def to_time(value: object, field: str, label: str | None = None) -> str | None:
    """A date or time cell -> ISO 8601: a bare date stays a date (that day in China Standard Time);
    a time without an offset is taken as China Standard Time (+08:00), as departments write it."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=CST)
        if moment.time() == time(0) and value.tzinfo is None:
            return moment.date().isoformat()
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    text = clean_text(value)
    if text is None:
        return None
    day, moment, tz = _parse_datetime_text(text, field, label)
    if moment is None:
        if tz:
            raise Rejected("BAD_TIMESTAMP", f"{label or field} {text[:40]!r} has an offset but no time of day", field)
        return day.isoformat()
    if tz is None or tz == "Z":
        zone = UTC if tz == "Z" else CST
    else:
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime.combine(day, moment, zone).isoformat()


def to_date(value: object, field: str, label: str | None = None) -> str | None:
    """A date cell -> YYYY-MM-DD (birth dates and the like)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value))
    text = clean_text(value)
    if text is None:
        return None
    day, _moment, _tz = _parse_datetime_text(text, field, label)
    return day.isoformat()


def to_resident_id(value: object, field: str, label: str | None = None) -> str | None:
    """A resident ID cell as text; a number cell is refused, since Excel keeps only 15 digits of it."""
    if value is None:
        return None
    if isinstance(value, float):
        raise Rejected(
            "RESIDENT_ID_AS_NUMBER",
            f"{label or field} is stored as a number, so Excel lost its last digits; format the column as text",
            field,
        )
    text = clean_text(value)
    if text is None:
        return None
    return text.replace(" ", "").replace("'", "").upper()


def to_bool(value: object, field: str, label: str | None = None) -> bool | None:
    """是/否, Y/N, true/false, 1/0 -> True/False."""
    if value is None or isinstance(value, bool):
        return value
    text = clean_text(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Rejected("BAD_ATTRIBUTE", f"{label or field} {text[:20]!r} is not 是/否 (yes/no)", field)


def to_int(value: object, field: str, label: str | None = None) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = clean_text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise Rejected("BAD_ATTRIBUTE", f"{label or field} {text[:20]!r} is not a whole number", field) from None


CONVERTERS = {
    "text": lambda value, field, label=None: clean_text(value),
    "money": to_money,
    "time": to_time,
    "date": to_date,
    "resident_id": to_resident_id,
    "bool": to_bool,
    "int": to_int,
}
