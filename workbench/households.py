"""The household file (户档案): the roster (members, coverage and its history, income, address, contact), every alert,
department event, decision, task, visit and outcome of one household in time order, and the search by household id
or (audited) by resident ID.

The file is reached through any of the household's alerts (`/alerts/{number}/household`); only the alerts inside the
reader's divisions are in it, and the roster section only when the reader's divisions cover the household's roster
division (workbench/roster.py). A resident ID is searched only by POST (never in a URL), matches provisional
households and roster members, and every such search is audited, masked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.resident_id import ResidentIdError, mask_resident_id, normalize_resident_id
from workbench import access, audit, labels, queue, roster, views
from workbench.access import Actor
from workbench.errors import Forbidden, Invalid, NotFound
from workbench.masking import mask_text
from workbench.tables import Alert, Decision, RosterPerson, Task, TimelineEntry, Visit
from workbench.timeutil import iso_cst, utcnow

# the first part of a department's event id -> the department (as the simulated district and the connectors name them)
EVENT_PREFIXES = {
    "yb": "医保部门", "cl": "残联", "rs": "人社部门", "sw": "税务部门", "hd": "居民家庭经济状况核对平台",
    "sb": "社保经办机构", "mz": "民政婚姻殡葬登记", "ga": "公安部门", "wj": "卫健部门", "fy": "法院",
    "sf": "司法行政部门", "bdc": "不动产登记机构", "cg": "车辆管理部门", "sc": "市场监管部门", "zz": "组织人事部门",
    "yj": "应急管理部门", "rx": "12349热线", "xf": "信访部门",
}
MAX_QUERY = 64


def department_of(event_id: str) -> str:
    """The department that reported an event, from its id's prefix (yb-… 医保部门); 有关部门 when unknown."""
    head = event_id.split("-", 1)[0].lower()
    return EVENT_PREFIXES.get(head, "有关部门")


def search(session: Session, actor: Actor, query: str, now: datetime, client: str | None = None) -> list[dict]:
    """Households matching a household id or a member's resident ID, inside the actor's divisions.

    Each hit is {"number": the latest alert's number (the file's address), "household_id" (masked), "alerts"}.
    A resident ID search is audited (masked) whether or not it finds anything.
    """
    if not access.allowed(actor.role, "alert.read"):
        raise Forbidden("您的角色不能查阅户档案", "ROLE_FORBIDDEN")
    text = "".join(ch for ch in (query or "") if ch.isprintable()).strip()
    if len(text) < 4 or len(text) > MAX_QUERY:
        raise Invalid("请填写户编号或成员身份证号（4 至 64 个字符）", "BAD_QUERY", "q")
    resident_id = None
    if len(text) == 18 and text[:-1].isascii() and text[:-1].isdigit():
        try:
            resident_id = normalize_resident_id(text)
        except ResidentIdError:
            raise Invalid("身份证号不正确：请核对 18 位号码（末位校验码不符）", "BAD_RESIDENT_ID", "q") from None
    base = queue.alerts_query(actor, queue.Filters(status="all"))
    if resident_id:
        on_roster = select(RosterPerson.household_id).where(RosterPerson.person_id == resident_id)
        match = or_(Alert.household_id == "person:" + resident_id, Alert.alert_id.like(f"person:{resident_id}/%"),
                    Alert.household_id.in_(on_roster))
    else:
        match = Alert.household_id == text
    rows = list(session.scalars(base.where(match).order_by(Alert.received_at.desc(), Alert.number.desc())))
    if resident_id:  # a roster member is found only where the reader's divisions cover the roster record too
        roster_ok = {hh: roster.current(session, actor, hh) is not None for hh in {r.household_id for r in rows}
                     if not hh.startswith("person:")}
        rows = [r for r in rows if roster_ok.get(r.household_id, True)]
        audit.record(session, actor, "household_search", now, target_type="person",
                     target_id=mask_resident_id(resident_id), division_code=actor.scopes[0],
                     detail={"by": "resident_id", "hits": len({r.household_id for r in rows})}, client=client)
    households: dict[str, dict] = {}
    for alert in rows:
        hit = households.setdefault(alert.household_id, {"number": alert.number,
                                                          "household_id": views.alert_view(alert)["household_id"],
                                                          "alerts": 0,
                                                          "url": f"/alerts/{alert.number}/household"})
        hit["alerts"] += 1
    # households on the roster with no alert in the reader's divisions: their file holds the roster alone
    if resident_id:
        candidates = set(session.scalars(select(RosterPerson.household_id).where(RosterPerson.person_id == resident_id)))
    else:
        candidates = {text}
    for household_id in sorted(candidates - households.keys()):
        if _reads_roster_alone(actor) and roster.current(session, actor, household_id) is not None:
            households[household_id] = {"number": None, "household_id": mask_text(household_id), "alerts": 0,
                                        "url": f"/households/{household_id}"}
    return list(households.values())


def _reads_roster_alone(actor: Actor) -> bool:
    """A role limited to some alert kinds (the county verifier: 备案核查) reads a household only through those alerts."""
    return actor.role not in access.KIND_LIMITS


def roster_file(session: Session, actor: Actor, household_id: str, now: datetime) -> dict:
    """The file of a household on the roster that has no alert the actor may read: the roster section alone.

    404 when the roster does not hold the household or the actor's divisions do not cover it (nothing leaks); a
    household with an alert the actor reads has its full file at `/alerts/{number}/household` instead.
    """
    latest = roster.current(session, actor, household_id) if _reads_roster_alone(actor) else None
    if latest is None:  # first the scope, as for an alert: outside it a household looks the same as none
        raise NotFound("本辖区的名册中没有该户")
    if not access.allowed(actor.role, "alert.read"):
        raise Forbidden("您的角色不能查阅户档案", "ROLE_FORBIDDEN")
    return {
        "household_id": mask_text(household_id), "household_provisional": False, "number": None,
        "division_code": latest.division_code, "alerts": [], "tasks": [], "decisions": [], "chronology": [],
        "contact_phone": None, "contact_task_id": None,
        "roster": roster.household_roster(session, actor, household_id, now, alert_ids=[]),
    }


def household_file(session: Session, actor: Actor, number: int, names: dict[str, str] | None = None,
                   now: datetime | None = None) -> dict:
    """The file of the household of alert `number` (404 outside the actor's divisions, like the alert itself)."""
    anchor = queue.get_alert(session, actor, number)
    alerts = [a for a in session.scalars(queue.alerts_query(actor, queue.Filters(status="all", household=anchor.household_id))
                                         .order_by(Alert.event_time, Alert.number))]
    if anchor not in alerts:
        alerts.append(anchor)  # a provisional household's alert reached through its placed task
    ids = [a.alert_id for a in alerts]
    tasks = list(session.scalars(select(Task).where(Task.alert_id.in_(ids)).order_by(Task.id)))
    visits = {v.task_id: v for v in session.scalars(select(Visit).where(Visit.task_id.in_([t.id for t in tasks])))} \
        if tasks else {}
    decisions = list(session.scalars(select(Decision).where(Decision.alert_id.in_(ids)).order_by(Decision.id)))
    entries = list(session.scalars(select(TimelineEntry).where(TimelineEntry.alert_id.in_(ids)).order_by(TimelineEntry.id)))
    number_of = {a.alert_id: a.number for a in alerts}
    kind_of = {a.alert_id: labels.kind(a.kind) for a in alerts}
    chronology = []
    seen_events: set[str] = set()
    for alert in alerts:
        for reason in alert.reasons:
            for event_id in reason.get("event_ids", []):
                if event_id in seen_events:
                    continue
                seen_events.add(event_id)
                chronology.append({"at": iso_cst(alert.event_time), "what": "event", "department": department_of(event_id),
                                   "text": mask_text(f"{department_of(event_id)}报送：{reason['text']}"),
                                   "ref": mask_text(event_id), "alert_number": alert.number})
    for entry in entries:
        chronology.append({"at": iso_cst(entry.at), "what": entry.what, "department": None,
                           "text": mask_text(f"{kind_of[entry.alert_id]}预警 #{number_of[entry.alert_id]}：{entry.text}"),
                           "ref": mask_text(entry.actor), "alert_number": number_of[entry.alert_id]})
    chronology.sort(key=lambda item: (item["at"] or "", item["what"] != "event"))
    latest_visit = max((visits[t.id] for t in tasks if t.id in visits), key=lambda v: v.recorded_at, default=None)
    return {
        "household_id": views.alert_view(anchor)["household_id"],
        "household_provisional": views.alert_view(anchor)["household_provisional"],
        "number": anchor.number,
        "division_code": anchor.division_code,
        "alerts": [views.alert_view(a, None, names) for a in alerts],
        "tasks": [{"task_id": t.id, "alert_number": number_of[t.alert_id], "status": t.status,
                   "status_label": labels.TASK_STATUSES.get(t.status, t.status), "assignee": t.assignee,
                   "due_date": t.due_date.isoformat(), "division_code": t.division_code,
                   "visit": views.visit_view(visits[t.id]) if t.id in visits else None} for t in tasks],
        "decisions": [dict(views.decision_view(d), alert_number=number_of[d.alert_id]) for d in decisions],
        "chronology": chronology,
        # what the officer needs to find the door: the contact recorded on the last visit (masked; reveal is audited)
        "contact_phone": views.visit_view(latest_visit)["contact_phone"] if latest_visit else None,
        "contact_task_id": latest_visit.task_id if latest_visit else None,
        # the civil-affairs roster (hardship.registry): members masked, coverage history, income, address, contact
        "roster": roster.household_roster(session, actor, anchor.household_id, now or utcnow(), alert_ids=ids,
                                          recusal_staff_ids=anchor.recusal_staff_ids),
    }
