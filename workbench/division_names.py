"""Names of streets and communities (区划名称): the division table, its file, and names or codes typed into filters.

The table `wb_divisions` holds one name per 12-digit code (a street as 420106002000). Operations load a file
with `hardship serve --divisions FILE` (lines `420106002000,积玉桥街道`; `#` starts a comment); administrators
edit names of their own divisions on /admin/divisions or by `PUT /api/v1/divisions/{code}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import access, audit, divisions
from workbench.access import Actor
from workbench.errors import Forbidden, Invalid
from workbench.tables import DivisionName

LEVEL_LABELS = {"street": "街道（乡镇）", "community": "社区（村）"}
_LINE = re.compile(r"^\s*([0-9]{12})\s*[,，\t ]\s*(\S.*?)\s*$")
MAX_NAME = 64


def clean_name(name: str | None) -> str:
    text = "".join(ch for ch in (name or "") if ch.isprintable()).strip()
    if not text:
        raise Invalid("请填写名称", "MISSING_NAME", "name")
    if len(text) > MAX_NAME:
        raise Invalid(f"名称不超过 {MAX_NAME} 个字", "NAME_TOO_LONG", "name")
    return text


def parse_file(text: str) -> list[tuple[str, str]]:
    """Lines `code,name` (comma, full-width comma, tab or space); blank lines and `#` comments skipped.

    A bad line raises ValueError naming its number, so the operator can fix the file.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#") or stripped.lower().startswith("code"):
            continue
        match = _LINE.match(stripped)
        if not match or not divisions.is_division_code(match.group(1)) \
                or divisions.level(match.group(1)) not in ("county", "street", "community"):
            raise ValueError(f"line {number}: expected `<12-digit county, street or community code>,<name>`, "
                             f"got {line.strip()[:60]!r}")
        try:
            rows.append((match.group(1), clean_name(match.group(2))))
        except Invalid as exc:
            raise ValueError(f"line {number}: {exc.message}") from None
    return rows


def import_file(session: Session, text: str, now: datetime, by: str = "division-file") -> int:
    """Load (or update) every name of the file; returns how many rows it held."""
    rows = parse_file(text)
    for code, name in rows:
        _put(session, code, name, by, now)
    return len(rows)


def import_for(session: Session, actor: Actor, text: str, now: datetime, client: str | None = None) -> int:
    """An administrator loads a division file: every code must be inside their divisions (audited as one change)."""
    if not access.allowed(actor.role, "users.manage"):
        raise Forbidden("只有系统管理员可以维护区划名称", "ROLE_FORBIDDEN")
    try:
        rows = parse_file(text)
    except ValueError as exc:
        raise Invalid(f"区划文件有误：{exc}（每行“12 位代码,名称”）", "BAD_DIVISION_FILE", "file") from None
    if not rows:
        raise Invalid("区划文件是空的：每行写“12 位代码,名称”，如 420106002000,积玉桥街道", "BAD_DIVISION_FILE", "file")
    outside = [code for code, _ in rows if not access.in_scope(actor, code)]
    if outside:
        raise Invalid(f"{outside[0]} 等 {len(outside)} 个代码不在您的辖区内，未导入", "OUT_OF_SCOPE", "file")
    for code, name in rows:
        _put(session, code, name, actor.username, now)
    audit.record(session, actor, "division_named", now, target_type="division", target_id="file",
                 division_code=actor.scopes[0], detail={"rows": len(rows)}, client=client)
    return len(rows)


def _put(session: Session, code: str, name: str, by: str, now: datetime) -> DivisionName:
    row = session.get(DivisionName, code)
    if row is None:
        row = DivisionName(code=code, name=name, updated_by=by, updated_at=now)
        session.add(row)
    else:
        row.name, row.updated_by, row.updated_at = name, by, now
    session.flush()
    return row


def set_name(session: Session, actor: Actor, code: str, name: str, now: datetime, client: str | None = None) -> DivisionName:
    """An administrator names a street or community inside their own divisions (audited)."""
    if not access.allowed(actor.role, "users.manage"):
        raise Forbidden("只有系统管理员可以维护区划名称", "ROLE_FORBIDDEN")
    if not divisions.is_division_code(code) or divisions.level(code) not in ("county", "street", "community"):
        raise Invalid("区划代码须为 12 位数字（街道如 420106002000，社区如 420106002003）", "BAD_DIVISION", "code")
    if not access.in_scope(actor, code):
        raise Forbidden("只能维护本辖区的区划名称", "OUT_OF_SCOPE")
    name = clean_name(name)
    before = session.get(DivisionName, code)
    old = before.name if before else None
    row = _put(session, code, name, actor.username, now)
    audit.record(session, actor, "division_named", now, target_type="division", target_id=code, division_code=code,
                 detail={"from": old, "to": name}, client=client)
    return row


def names_for(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """code -> name for the codes and their streets (missing names are simply absent)."""
    wanted = set()
    for code in codes:
        if code:
            wanted.add(code)
            wanted.add(divisions.street_of(code))
    if not wanted:
        return {}
    return {row.code: row.name for row in session.scalars(select(DivisionName).where(DivisionName.code.in_(sorted(wanted))))}


def label(names: dict[str, str], code: str | None) -> str | None:
    """"积玉桥街道 某社区" for a community, the street's name for a street; None without a name."""
    if not code:
        return None
    own = names.get(code)
    if divisions.level(code) != "community":
        return own
    street = names.get(divisions.street_of(code))
    if own and street:
        return f"{street} {own}"
    return own


def in_scope(session: Session, actor: Actor, level: str | None = None) -> list[DivisionName]:
    """The named divisions the actor covers (for suggestions and the admin page), by code."""
    rows = session.scalars(select(DivisionName).order_by(DivisionName.code))
    return [r for r in rows if access.in_scope(actor, r.code) and (level is None or divisions.level(r.code) == level)]


def resolve(session: Session, actor: Actor, text: str | None, level: str, field: str) -> str | None:
    """A street or community typed into a filter, as a code: the code itself, or a name of the table.

    Anything else is refused with a reason (never silently ignored).
    """
    value = "".join(ch for ch in (text or "") if ch.isprintable()).strip()
    if not value:
        return None
    what = LEVEL_LABELS[level]
    if value.isascii() and value.isdigit():
        if level == "street" and len(value) == 9:
            value += "000"
        if len(value) != 12 or not divisions.is_division_code(value):
            lengths = "9 或 12 位" if level == "street" else "12 位"
            raise Invalid(f"{what}代码“{value[:20]}”不正确：须为 {lengths}数字，或填写{what}名称", "BAD_DIVISION", field)
        if level == "community" and divisions.level(value) != "community":
            raise Invalid(f"“{value}”不是社区（村）代码：社区代码后三位不为 000", "BAD_DIVISION", field)
        return value
    named = in_scope(session, actor)
    names = {r.code: r.name for r in named}
    rows = [r for r in named if divisions.level(r.code) == level]
    candidates = [r for r in rows if value in (r.name, label(names, r.code), label(names, r.code).replace(" ", ""))]
    if not candidates:
        candidates = [r for r in rows if value in label(names, r.code)]
    if len(candidates) == 1:
        return candidates[0].code
    if not candidates:
        raise Invalid(f"您的辖区内没有名为“{value[:30]}”的{what}：请从建议中选择名称，或填写区划代码", "UNKNOWN_DIVISION", field)
    shown = "、".join(label(names, r.code) for r in candidates[:5])
    raise Invalid(f"“{value[:30]}”对应多个{what}（{shown}）：请写全名称", "AMBIGUOUS_DIVISION", field)
