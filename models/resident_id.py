"""Resident identity numbers (居民身份证号, GB 11643-1999): check, mask and make.

Length, check digit and birth date are checked; the six-digit area code is not looked up,
because area tables go out of date while old numbers stay valid (Wuchang, 420106, is one).
"""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_DIGITS = frozenset("0123456789")


class ResidentIdError(ValueError):
    """A resident ID that fails a check; `code` is the stable reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_digit(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    total = 0
    for ch, weight in zip(first17, _WEIGHTS, strict=True):
        total += (ord(ch) - 48) * weight
    return _CHECK_CHARS[total % 11]


def birth_date_of(resident_id: str) -> date:
    """The birth date written in characters 7-14 (YYYYMMDD)."""
    return date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))


def normalize_resident_id(value: object, today: date | None = None) -> str:
    """Return the ID with an upper-case X, or raise ResidentIdError with the reason."""
    if not isinstance(value, str):
        raise ResidentIdError("RESIDENT_ID_NOT_TEXT", "the resident ID must be a string of 18 characters")
    rid = value.strip().upper()
    if len(rid) != 18:
        raise ResidentIdError(
            "RESIDENT_ID_LENGTH", f"the resident ID has {len(rid)} characters, not 18; check for a 15-digit old ID or a typo"
        )
    if not _DIGITS.issuperset(rid[:17]) or not (rid[17] in _DIGITS or rid[17] == "X"):
        raise ResidentIdError(
            "RESIDENT_ID_CHARACTERS", "the resident ID must be 17 digits followed by a digit or X"
        )
    try:
        born = birth_date_of(rid)
    except ValueError:
        raise ResidentIdError(
            "RESIDENT_ID_BIRTH_DATE", f"characters 7-14 of the resident ID ({rid[6:14]}) are not a real date"
        ) from None
    if born.year < 1890 or born > (today or date.today()):
        raise ResidentIdError(
            "RESIDENT_ID_BIRTH_DATE", f"the birth date in the resident ID ({born.isoformat()}) is impossible"
        )
    expected = check_digit(rid[:17])
    if rid[17] != expected:
        raise ResidentIdError(
            "RESIDENT_ID_CHECK_DIGIT",
            f"the check digit of the resident ID is {rid[17]} but should be {expected}; a digit was mistyped",
        )
    return rid


def mask_resident_id(resident_id: str) -> str:
    """420106********1234: area code and last four kept, as published lists require."""
    if len(resident_id) < 10:
        return "*" * len(resident_id)
    return resident_id[:6] + "*" * (len(resident_id) - 10) + resident_id[-4:]


def make_resident_id(area_code: str, birth: date, sequence: int) -> str:
    """A valid 18-character ID for tests and the simulator (sequence 0-999; odd is male)."""
    if len(area_code) != 6 or not area_code.isdigit():
        raise ValueError("area_code must be six digits")
    first17 = f"{area_code}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)
