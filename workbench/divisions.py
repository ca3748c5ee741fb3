"""Statistical division codes (统计用区划代码): levels, prefixes and whether one division contains another.

A code is 12 digits: province(2) city(2) county(2) street/township(3) community/village(3). A user
scoped to 420106000000 (武昌区) covers every code that starts with 420106; a user scoped to
420106002003 covers that community only.
"""

from __future__ import annotations

import re

_CODE_RE = re.compile(r"^[1-9][0-9]{11}$")
# (level name, Chinese label, prefix length)
LEVELS = (
    ("province", "省级", 2),
    ("city", "市级", 4),
    ("county", "县级", 6),
    ("street", "乡级（街道）", 9),
    ("community", "村级（社区）", 12),
)


def is_division_code(code: object) -> bool:
    return isinstance(code, str) and bool(_CODE_RE.match(code))


def prefix(code: str) -> str:
    """The significant part of a code: 420106000000 -> 420106, 420106002003 -> 420106002003."""
    for _, _, length in LEVELS:
        if code[length:].strip("0") == "":
            return code[:length]
    return code


def level(code: str) -> str:
    """province / city / county / street / community."""
    significant = len(prefix(code))
    for name, _, length in LEVELS:
        if length == significant:
            return name
    return "community"  # pragma: no cover - prefix always returns one of the lengths


def contains(scope: str, code: str) -> bool:
    """Whether the division `scope` contains (or is) the division `code`."""
    return code.startswith(prefix(scope))


def covered(scopes: list[str] | tuple[str, ...], code: str) -> bool:
    """Whether any of a user's scopes contains `code`."""
    return any(contains(scope, code) for scope in scopes)


def street_of(code: str) -> str:
    """The street/township (9 digits) of a code, padded: 420106002003 -> 420106002000."""
    return code[:9] + "000"
