"""The filing register (备案台账): each staff member's or cadre's close-relative filing with name, gender, unit,
position and duties, and for each relative the household, its kind of support and the relation; the periodic check
(定期核查) and the flags of seed 004 (a new appointee with relatives on assistance files within one month).

`status_of` is pure; the rest reads and writes wb_filings for one user's divisions (bureau keeps the register,
verifiers record checks, auditors read it). Relatives' resident IDs and provisional household ids are masked.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.resident_id import ResidentIdError, mask_resident_id, normalize_resident_id
from models.validation import FILING_ROLES
from workbench import access, audit, divisions, labels
from workbench.access import Actor
from workbench.errors import Forbidden, Invalid, NotFound, OutOfScope
from workbench.masking import mask_household_id
from workbench.queue import scoped
from workbench.tables import Filing
from workbench.timeutil import iso_cst

ROLES_ZH = {"social_assistance_staff": "社会救助经办人员", "village_committee_member": "村民委员会成员",
            "community_committee_member": "居民委员会成员", "village_group_leader": "村（居）民小组长",
            "civil_affairs_official": "民政干部"}
RELATIONS_ZH = {"spouse": "配偶", "parent": "父母", "child": "子女", "sibling": "兄弟姐妹", "grandparent": "祖父母、外祖父母",
                "grandchild": "孙子女、外孙子女", "in_law": "姻亲", "other": "其他近亲属"}
FILING_DAYS = 30  # 新聘（选）任后 1 个月内备案 (seed 004)
CHECK_PERIOD_DAYS = 180  # 定期核查: a filed household not verified for half a year is due again

READ = access.PERMISSIONS["filings.read"]
KEEP = frozenset({"bureau"})
CHECK = frozenset({"bureau", "verifier"})


def status_of(appointed_on: date | None, filed_on: date | None, last_checked_on: date | None, today: date) -> dict:
    """The filing's flags: due (not filed, within a month of appointment), late (not filed in time, or filed after
    the month), check_due (never checked, or not for CHECK_PERIOD_DAYS)."""
    due_by = appointed_on + timedelta(days=FILING_DAYS) if appointed_on else None
    late = bool(due_by and ((filed_on is None and today > due_by) or (filed_on is not None and filed_on > due_by)))
    due = bool(due_by and filed_on is None and not late)
    anchor = last_checked_on or filed_on
    check_due = filed_on is not None and (anchor is None or (today - anchor).days > CHECK_PERIOD_DAYS)
    labels_ = [text for flag, text in ((due, f"待备案（{due_by} 前）"), (late, "逾期备案"), (check_due, "到期应核查")) if flag]
    return {"due_by": due_by.isoformat() if due_by else None, "filing_due": due, "filing_late": late,
            "check_due": check_due, "flags": labels_}


def _clean(text: object, field: str, limit: int, required: bool = False) -> str | None:
    value = "".join(ch for ch in str(text or "") if ch.isprintable()).strip()
    if required and not value:
        raise Invalid(f"请填写 {field}", "MISSING_" + field.upper(), field)
    if len(value) > limit:
        raise Invalid(f"{field} 不超过 {limit} 个字", "TOO_LONG", field)
    return value or None


def put(session: Session, actor: Actor, staff_id: str, data: dict, now: datetime, client: str | None = None) -> Filing:
    """Create or update one filing (the bureau of the division keeps the register; audited)."""
    if actor.role not in KEEP:
        raise Forbidden("备案台账由区民政局维护", "ROLE_FORBIDDEN")
    staff_id = _clean(staff_id, "staff_id", 64, required=True)
    code = data.get("division_code") or ""
    if not divisions.is_division_code(code):
        raise Invalid("区划代码须为 12 位数字", "BAD_DIVISION", "division_code")
    if not access.in_scope(actor, code):
        raise Forbidden("只能维护本辖区的备案", "OUT_OF_SCOPE")
    if data.get("role") not in FILING_ROLES:
        raise Invalid("身份须为：" + "、".join(ROLES_ZH.values()), "BAD_ROLE", "role")
    relatives = []
    for i, relative in enumerate(data.get("relatives") or []):
        try:
            person = normalize_resident_id(relative.get("person_id"))
        except ResidentIdError:
            raise Invalid(f"第 {i + 1} 位近亲属的身份证号不正确", "BAD_RESIDENT_ID", f"relatives[{i}].person_id") from None
        relation = relative.get("relation") or "other"
        if relation not in RELATIONS_ZH:
            raise Invalid("关系须为：" + "、".join(RELATIONS_ZH.values()), "BAD_RELATION", f"relatives[{i}].relation")
        support = relative.get("support") or "none"
        if support not in labels.COVERAGES:
            raise Invalid("救助类别须为：" + "、".join(labels.COVERAGES.values()), "BAD_SUPPORT", f"relatives[{i}].support")
        relatives.append({"person_id": person, "relation": relation, "support": support,
                          "household_id": _clean(relative.get("household_id"), "household_id", 128)})
    row = session.get(Filing, staff_id)
    if row is not None and not access.in_scope(actor, row.division_code):
        raise Forbidden("该备案属于其他辖区", "OUT_OF_SCOPE")
    if row is None:
        row = Filing(staff_id=staff_id, updated_by=actor.username, updated_at=now, relatives=[])
        session.add(row)
    row.role, row.division_code = data["role"], code
    row.name = _clean(data.get("name"), "name", 64, required=True)
    row.gender = _clean(data.get("gender"), "gender", 8)
    row.unit, row.position = _clean(data.get("unit"), "unit", 128), _clean(data.get("position"), "position", 64)
    row.duties = _clean(data.get("duties"), "duties", 256)
    row.appointed_on, row.filed_on = data.get("appointed_on"), data.get("filed_on")
    row.relatives, row.updated_by, row.updated_at = relatives, actor.username, now
    audit.record(session, actor, "filing_saved", now, target_type="filing", target_id=staff_id, division_code=code,
                 detail={"relatives": len(relatives)}, client=client)
    return row


def record_check(session: Session, actor: Actor, staff_id: str, today: date, now: datetime, client: str | None = None) -> Filing:
    """The periodic check (定期核查) of a filing's relatives done today (audited)."""
    row = _get(session, actor, staff_id)
    if actor.role not in CHECK:
        raise Forbidden("定期核查由区民政局或县级核查员登记", "ROLE_FORBIDDEN")
    row.last_checked_on = today
    audit.record(session, actor, "filing_checked", now, target_type="filing", target_id=row.staff_id,
                 division_code=row.division_code, client=client)
    return row


def _get(session: Session, actor: Actor, staff_id: str) -> Filing:
    if actor.role not in READ:
        raise Forbidden("您的角色不能查看备案台账", "ROLE_FORBIDDEN")
    row = session.get(Filing, (staff_id or "")[:64])
    if row is None:
        raise NotFound("没有找到该备案，或不在您的管辖范围内")
    if not access.in_scope(actor, row.division_code):
        raise OutOfScope("没有找到该备案，或不在您的管辖范围内", actor=actor, target_type="filing",
                         target_id=row.staff_id, division_code=row.division_code)
    return row


def register(session: Session, actor: Actor, today: date) -> list[dict]:
    """The register of the actor's divisions, by division and staff id."""
    if actor.role not in READ:
        raise Forbidden("您的角色不能查看备案台账", "ROLE_FORBIDDEN")
    rows = session.scalars(scoped(select(Filing), actor, Filing.division_code).order_by(Filing.division_code, Filing.staff_id))
    return [view(row, today) for row in rows]


def view(row: Filing, today: date) -> dict:
    return {"staff_id": row.staff_id, "role": row.role, "role_label": ROLES_ZH.get(row.role, row.role),
            "division_code": row.division_code, "name": row.name, "gender": row.gender, "unit": row.unit,
            "position": row.position, "duties": row.duties,
            "appointed_on": row.appointed_on.isoformat() if row.appointed_on else None,
            "filed_on": row.filed_on.isoformat() if row.filed_on else None,
            "last_checked_on": row.last_checked_on.isoformat() if row.last_checked_on else None,
            "relatives": [{"person_id": mask_resident_id(r["person_id"]), "relation": r["relation"],
                           "relation_label": RELATIONS_ZH.get(r["relation"], r["relation"]), "support": r["support"],
                           "support_label": labels.COVERAGES.get(r["support"], r["support"]),
                           "household_id": mask_household_id(r["household_id"]) if r.get("household_id") else None}
                          for r in row.relatives],
            "updated_by": row.updated_by, "updated_at": iso_cst(row.updated_at),
            **status_of(row.appointed_on, row.filed_on, row.last_checked_on, today)}
